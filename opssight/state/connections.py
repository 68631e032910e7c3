"""Settings → Connections (admin): what OpsSight is connected to (sources set by environment
variables, read-only, and connections saved here), contact points, the form to add or edit one,
"Test connection" and "Send test". Every handler checks the admin permission; typed secrets
(a kubeconfig included) go straight from the browser to the service and are never kept in the
state: of a kubeconfig, only its context names are."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import reflex as rx
from sqlmodel import Session

from opssight import db
from opssight.models import Connection, ContactPoint, User
from opssight.schemas.connections import FORMS, ContactPointForm, KubeContexts
from opssight.services import connection_probe, connections, contact_points, source_config
from opssight.services.alerting import notify
from opssight.services.automation import tokens
from opssight.services.connections import ConnectionsError
from opssight.services.contact_points import ContactPointError
from opssight.services.secrets import SecretKeyError
from opssight.state.formatting import when
from opssight.state.session import protected, signed_in_user

KINDS = {
    "github": "GitHub",
    "kubernetes": "Kubernetes",
    "prometheus": "Prometheus",
    "alertmanager": "Alertmanager",
    "smtp": "Email (SMTP)",
    "contact": "Contact point",
}
SOURCE_KINDS = source_config.SOURCE_KINDS  # what the empty table offers to connect
LIST_FIELDS = ("repositories", "addresses")
BOOL_FIELDS = ("enabled", "in_cluster")
REFUSED = (ConnectionsError, ContactPointError, SecretKeyError, tokens.TokenError, ValueError)


def _summary(kind: str, values: dict[str, Any]) -> str:
    if kind == "github":
        what = ", ".join(values.get("repositories") or []) or f"org {values.get('organisation')}"
        return f"{values.get('api_url')} · {what}"
    if kind == "kubernetes":
        contexts = ", ".join(values.get("contexts") or []) or "every context"
        return contexts + (" + in-cluster" if values.get("in_cluster") else "")
    if kind == "smtp":
        return f"{values.get('host')}:{values.get('port')} from {values.get('sender')}"
    return str(values.get("url") or "")


def _secrets(names: Iterable[str]) -> str:
    return ", ".join(f"{name} ••••" for name in names) or "none"


def _environment_rows() -> list[dict[str, str]]:
    """The sources set by environment variables, as read-only table rows."""
    return [
        {
            "kind": source.kind,
            "kind_title": KINDS.get(source.kind, source.kind.title()),
            "name": source.name,
            "summary": source.summary,
            "secrets": _secrets(source.secrets),
            "variables": ", ".join(source.variables),
        }
        for source in source_config.environment_sources()
    ]


def _snapshot(session: Session) -> dict[str, Any]:
    config = source_config.load(session)
    saved = []
    for view in connections.list_connections(session):
        saved.append(
            {
                "id": str(view.id),
                "kind": view.kind,
                "kind_title": KINDS[view.kind],
                "name": view.name,
                "summary": _summary(view.kind, view.settings),
                "secrets": _secrets(view.secrets_set),
                "state": (
                    "overridden by environment"
                    if view.kind in config.environment and view.kind != "prometheus"
                    else ("enabled" if view.enabled else "disabled")
                ),
                "enabled": "yes" if view.enabled else "",
                "updated": f"{when(view.updated_at)} by {view.updated_by or '?'}",
            }
        )
    points = [
        {
            "id": str(p.id),
            "name": p.name,
            "kind": p.kind,
            "target": p.target,
            "enabled": "yes" if p.enabled else "",
        }
        for p in contact_points.list_points(session)
    ]
    environment = _environment_rows()
    issued = [
        {
            "id": str(t.id),
            "name": t.name,
            "created": f"{when(t.created_at)} by {t.created_by}",
            "used": when(t.last_used_at) if t.last_used_at else "never",
            "revoked": when(t.revoked_at) if t.revoked_at else "",
        }
        for t in tokens.list_tokens(session)
    ]
    return {
        "saved": saved,
        "points": points,
        "environment": environment,
        "nothing_connected": not saved and not environment,
        "demo": config.demo,
        "tokens": issued,
    }


def _read() -> dict[str, Any]:
    with db.session_scope() as session:
        return _snapshot(session)


def _values(form: dict[str, Any]) -> dict[str, Any]:
    """The submitted form as the service's fields: lists split, checkboxes as booleans."""
    values: dict[str, Any] = {}
    for name, raw in form.items():
        text = str(raw).strip() if name not in ("kubeconfig", "private_key") else str(raw)
        if name in LIST_FIELDS:
            values[name] = [v.strip() for v in text.replace("\n", ",").split(",") if v.strip()]
        elif name in BOOL_FIELDS:
            values[name] = text.lower() in ("on", "true", "yes", "1")
        elif name == "installation_id":
            values[name] = int(text) if text.isdigit() else None
        else:
            values[name] = text
    for name in BOOL_FIELDS:
        values.setdefault(name, False)
    return values


def _saved_contexts(item_id: int) -> tuple[KubeContexts | None, str, list[str]]:
    """A saved Kubernetes connection's kubeconfig contexts (or why they cannot be read) and
    those it watches (empty: every context)."""
    with db.session_scope() as session:
        row = session.get(Connection, item_id)
        watched = list(row.settings.get("contexts") or []) if row else []
        try:
            return connections.kubeconfig_contexts(session, "", item_id), "", watched
        except REFUSED as exc:
            return None, str(exc), watched


def _read_contexts(kubeconfig: str) -> KubeContexts:
    with db.session_scope() as session:
        return connections.kubeconfig_contexts(session, kubeconfig)


def _prefill(session: Session, kind: str, item_id: int | None) -> dict[str, str]:
    """The saved non-secret values of the item being edited, as form text."""
    if item_id is None:
        if kind == "contact":
            return {"kind": "slack", "enabled": "yes"}
        form = FORMS[kind]
        defaults = form.model_construct().model_dump(exclude=set(form.SECRETS))
        return {name: _text(value) for name, value in defaults.items()}
    if kind == "contact":
        point = session.get(ContactPoint, item_id)
        if point is None:
            raise ContactPointError("That contact point no longer exists.")
        addresses = point.target if point.kind == "email" else ""
        return {
            "name": point.name,
            "kind": point.kind,
            "addresses": addresses,
            "enabled": _text(point.enabled),
        }
    view = next((v for v in connections.list_connections(session) if v.id == item_id), None)
    if view is None:
        raise ConnectionsError("That connection no longer exists.")
    return {"name": view.name, "enabled": _text(view.enabled)} | {
        k: _text(v) for k, v in view.settings.items()
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _contact_form(values: dict[str, Any]) -> ContactPointForm:
    try:
        return ContactPointForm.model_validate(values)
    except ValueError as exc:
        raise ContactPointError(connections.describe(exc)) from None


def _test(kind: str, item_id: int | None, values: dict[str, Any]) -> str:
    with db.session_scope() as session:
        if kind == "contact":
            draft = contact_points.draft(session, item_id, _contact_form(values))
            point = ContactPoint(name=draft.name, kind=draft.kind, target="")
            contact_points.fill(point, draft)
            return connection_probe.send_test(point, notify.send)
        return connection_probe.probe(connections.draft(session, kind, values, item_id))


def _save(kind: str, item_id: int | None, values: dict[str, Any], actor_id: int) -> str:
    with db.session_scope() as session:
        actor = session.get(User, actor_id)
        assert actor is not None
        if kind == "contact":
            point = contact_points.save(session, item_id, _contact_form(values), actor=actor)
            return f"Contact point {point.name} saved."
        draft = connections.draft(session, kind, values, item_id)
        row = connections.save(session, draft, actor=actor, connection_id=item_id)
        return f"{KINDS[kind]} connection {row.name} saved; it takes effect within seconds."


class ConnectionsState(rx.State):
    loaded: bool = False
    error: str = ""
    saved: list[dict[str, str]] = []
    points: list[dict[str, str]] = []
    environment: list[dict[str, str]] = []  # sources set by environment variables (read-only)
    nothing_connected: bool = False
    demo: bool = False
    tokens: list[dict[str, str]] = []
    new_token: str = ""  # an Ansible ingest token just created: shown once, until dismissed
    editing: str = ""  # the kind whose form is open ("" = none)
    editing_id: str = ""
    values: dict[str, str] = {}
    form_key: int = 0
    intent: str = "test"
    result: str = ""
    failure: str = ""
    # the Kubernetes form: contexts of the kubeconfig uploaded, pasted or saved (names only)
    kube_contexts: list[str] = []
    kube_current: str = ""
    kube_picked: list[str] = []
    kube_every: bool = False
    kube_error: str = ""

    @rx.var
    def editing_title(self) -> str:
        verb = "Edit" if self.editing_id else "Add"
        return f"{verb} {KINDS.get(self.editing, '')} connection".replace(
            "Contact point connection", "contact point"
        )

    async def _reload(self) -> None:
        try:
            data = await asyncio.to_thread(_read)
        except SecretKeyError as exc:
            self.error, self.loaded = str(exc), True
            return
        self.saved, self.points, self.environment = (
            data["saved"],
            data["points"],
            data["environment"],
        )
        self.nothing_connected, self.demo = data["nothing_connected"], data["demo"]
        self.tokens = data["tokens"]
        self.error, self.loaded = "", True

    def _open(self, kind: str, values: dict[str, str], item_id: str = "") -> None:
        self.editing, self.editing_id, self.values = kind, item_id, values
        self.result = self.failure = ""
        self.form_key += 1
        self._offer_contexts(None)

    def _offer_contexts(
        self, found: KubeContexts | None, error: str = "", picked: list[str] | None = None
    ) -> None:
        """List ``found``'s contexts to pick: ``picked`` (a saved choice, empty meaning every
        context), else the kubeconfig's current-context (every context when it has none)."""
        self.kube_contexts = found.names if found else []
        self.kube_current = (found.current if found else None) or ""
        self.kube_error = error
        if picked is None:
            picked = [self.kube_current] if self.kube_current else []
            self.kube_every = found is not None and not picked
        else:
            self.kube_every = not picked
        self.kube_picked = [name for name in picked if name in self.kube_contexts]

    @rx.event
    @protected("admin")
    async def load(self):
        await self._reload()
        wanted = str(self.router.url.query_parameters.get("add", ""))
        if wanted in KINDS:
            return await self._start(wanted, "")
        return None

    async def _start(self, kind: str, item_id: str):
        number = int(item_id) if item_id.isdigit() else None

        def prefill() -> dict[str, str]:
            with db.session_scope() as session:
                return _prefill(session, kind, number)

        try:
            values = await asyncio.to_thread(prefill)
        except REFUSED as exc:
            return rx.toast.error(str(exc))
        self._open(kind, values, item_id)
        if kind == "kubernetes" and number is not None:
            self._offer_contexts(*await asyncio.to_thread(_saved_contexts, number))
        return None

    @rx.event
    @protected("admin")
    async def add(self, kind: str):
        if kind not in KINDS:
            return rx.toast.error("Unknown connection kind.")
        return await self._start(kind, "")

    @rx.event
    @protected("admin")
    async def edit(self, kind: str, item_id: str):
        if kind not in KINDS:
            return rx.toast.error("Unknown connection kind.")
        return await self._start(kind, str(item_id))

    @rx.event
    @protected("admin")
    async def close(self) -> None:
        self.editing = self.editing_id = ""

    @rx.event
    @protected("admin")
    async def read_kubeconfig(self, kubeconfig: str) -> None:
        """A kubeconfig was uploaded or pasted: offer its contexts (parsed server-side, as
        data). Blank while editing: the saved kubeconfig's contexts stay offered."""
        if self.editing != "kubernetes" or not isinstance(kubeconfig, str):
            return
        if not kubeconfig.strip():
            if not self.editing_id:
                self._offer_contexts(None)
            return
        try:
            found = await asyncio.to_thread(_read_contexts, kubeconfig)
        except REFUSED as exc:
            self._offer_contexts(None, str(exc))
            return
        self._offer_contexts(found)

    @rx.event
    @protected("admin")
    async def pick_context(self, name: str, picked: bool) -> None:
        if name not in self.kube_contexts:
            return
        others = [n for n in self.kube_picked if n != name]
        self.kube_picked = sorted([*others, name]) if picked else others

    @rx.event
    @protected("admin")
    async def pick_every_context(self, every: bool) -> None:
        self.kube_every = bool(every)
        if not self.kube_every and not self.kube_picked and self.kube_contexts:
            self.kube_picked = [self.kube_current or self.kube_contexts[0]]

    def _contexts_chosen(self) -> list[str]:
        """The contexts the Kubernetes form watches (empty: every context)."""
        if self.kube_every or not self.kube_contexts:
            return []
        if not self.kube_picked:
            raise ConnectionsError("contexts: pick at least one context, or every context")
        return list(self.kube_picked)

    @rx.event
    @protected("admin")
    async def set_intent(self, intent: str) -> None:
        self.intent = "save" if intent == "save" else "test"

    @rx.event
    @protected("admin")
    async def submit(self, form: dict[str, Any]):
        kind, item_id = self.editing, int(self.editing_id) if self.editing_id.isdigit() else None
        if kind not in KINDS:
            return rx.toast.error("Open a form first.")
        self.result = self.failure = ""
        values = _values(form)
        try:
            if kind == "kubernetes":
                values["contexts"] = self._contexts_chosen()
            if self.intent == "test":
                self.result = await asyncio.to_thread(_test, kind, item_id, values)
                return None
            done = await asyncio.to_thread(_save, kind, item_id, values, signed_in_user().id)
        except connection_probe.ProbeFailed as exc:
            self.failure = str(exc)
            return None
        except REFUSED as exc:
            self.failure = str(exc)
            return None
        self.editing = self.editing_id = ""
        await self._reload()
        return rx.toast.success(done)

    async def _change(self, work, done: str):
        actor_id = signed_in_user().id

        def run() -> None:
            with db.session_scope() as session:
                work(session, session.get(User, actor_id))

        try:
            await asyncio.to_thread(run)
        except REFUSED as exc:
            await self._reload()
            return rx.toast.error(str(exc))
        await self._reload()
        return rx.toast.success(done)

    @rx.event
    @protected("admin")
    async def set_enabled(self, item_id: str, enabled: bool):
        number = int(item_id) if str(item_id).isdigit() else -1
        return await self._change(
            lambda s, actor: connections.set_enabled(s, number, bool(enabled), actor=actor),
            "Connection enabled." if enabled else "Connection disabled.",
        )

    @rx.event
    @protected("admin")
    async def delete(self, item_id: str):
        number = int(item_id) if str(item_id).isdigit() else -1
        return await self._change(
            lambda s, actor: connections.delete(s, number, actor=actor), "Connection deleted."
        )

    @rx.event
    @protected("admin")
    async def delete_point(self, item_id: str):
        number = int(item_id) if str(item_id).isdigit() else -1
        return await self._change(
            lambda s, actor: contact_points.delete(s, number, actor=actor),
            "Contact point deleted.",
        )

    @rx.event
    @protected("admin")
    async def create_token(self, form: dict[str, Any]):
        name, actor_id = str(form.get("token_name", "")), signed_in_user().id

        def create() -> str:
            with db.session_scope() as session:
                _, plaintext = tokens.create(session, name=name, actor=session.get(User, actor_id))
                return plaintext

        try:
            self.new_token = await asyncio.to_thread(create)
        except REFUSED as exc:
            return rx.toast.error(str(exc))
        await self._reload()
        return None

    @rx.event
    @protected("admin")
    async def dismiss_token(self) -> None:
        self.new_token = ""

    @rx.event
    @protected("admin")
    async def revoke_token(self, item_id: str):
        number = int(item_id) if str(item_id).isdigit() else -1
        return await self._change(
            lambda s, actor: tokens.revoke(s, number, actor=actor), "Token revoked."
        )
