"""Timeline: one service's changes (or everything's) newest first, filtered by kind and time;
"what changed before this?" around an alert or a Kubernetes problem (``?alert=`` /
``?problem=``); services and their members, changed by admins. Live from every source's topic."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

import reflex as rx
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from opssight import db
from opssight.models import User
from opssight.models.base import utcnow
from opssight.services import service_map
from opssight.services import timeline as t
from opssight.services.service_map import ServiceError
from opssight.state.formatting import ago, when
from opssight.state.inputs import ALL, single
from opssight.state.live import live_view
from opssight.state.session import caller, protected, signed_in_user

log = structlog.get_logger(__name__)

WINDOWS = {"6": 6, "24": 24, "72": 72, "168": 168}  # hours


class Params(NamedTuple):
    service: int | None
    kinds: tuple[str, ...]
    hours: int
    alert: int | None
    problem: int | None


@dataclass(frozen=True)
class TimelineData:
    services: list[dict[str, str]]
    members: list[dict[str, str]]
    entries: list[t.Entry]
    anchor: t.Entry | None
    covering: list[str]
    missing: bool


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _services(session: Session) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    services, members = [], []
    for service, rows in service_map.list_services(session):
        services.append(
            {
                "id": str(service.id),
                "name": service.name,
                "description": service.description,
                "members": ", ".join(service_map.label(m) for m in rows) or "no member yet",
            }
        )
        members += [
            {
                "id": str(m.id),
                "service": service.name,
                "kind": service_map.KINDS.get(m.kind, m.kind),
                "label": service_map.label(m),
            }
            for m in rows
        ]
    return services, members


def _fetch(p: Params) -> TimelineData:
    kinds = [k for k in p.kinds if k in t.KINDS]
    with db.session_scope() as session:
        services, members = _services(session)
        if p.alert is not None or p.problem is not None:
            around = (
                t.around_alert(session, p.alert, kinds)  # type: ignore[arg-type]
                if p.alert is not None
                else t.around_problem(session, p.problem or 0, kinds)  # type: ignore[arg-type]
            )
            if around is None:
                return TimelineData(services, members, [], None, [], True)
            return TimelineData(
                services, members, around.entries, around.anchor, around.services, False
            )
        now = utcnow()
        query = t.TimelineQuery(since=now - timedelta(hours=p.hours), until=now, kinds=kinds)
        scope = service_map.EVERYTHING
        names: set[str] = set()
        if p.service is not None:
            found = service_map.service_scope(session, p.service)
            if found is None:
                return TimelineData(services, members, [], None, [], True)
            scope = found
            names = {s["name"] for s in services if s["id"] == str(p.service)}
        entries = t.timeline(session, query, scope, names)
        return TimelineData(services, members, entries, None, [], False)


def _cells(e: t.Entry) -> dict[str, str]:
    return {
        "key": e.key,
        "kind": e.kind,
        "kind_label": t.KINDS[e.kind],
        "title": e.title,
        "detail": e.detail,
        "tone": e.tone,
        "link": e.link,
        "source": e.source,
        "when": when(e.at),
        "ago": ago(e.at),
    }


def _change(action: Callable[[Session, User], object]) -> str | None:
    """Run one admin change as the calling admin; the refusal's wording if it was refused."""
    with db.session_scope() as session:
        actor = session.get(User, signed_in_user().id)
        try:
            action(session, actor)
        except ServiceError as exc:
            session.rollback()
            return str(exc)
    return None


@live_view("deployments", "pipelines", "alerts", "kubernetes", "automation")
class TimelineState(rx.State):
    service: str = ""  # a service id; "" for everything
    kinds: list[str] = list(t.KINDS)
    window: str = "24"
    alert: str = ""
    problem: str = ""
    services: list[dict[str, str]] = []
    members: list[dict[str, str]] = []
    entries: list[dict[str, str]] = []
    anchor: dict[str, str] = {}
    covering: str = ""
    missing: bool = False
    is_admin: bool = False
    loaded: bool = False
    error: str = ""

    @rx.var
    def kind_choices(self) -> list[list[str]]:
        return [[k, label, "on" if k in self.kinds else ""] for k, label in t.KINDS.items()]

    @rx.var
    def service_names(self) -> list[str]:
        return [s["name"] for s in self.services]

    @rx.var
    def service_name(self) -> str:
        return next((s["name"] for s in self.services if s["id"] == self.service), ALL)

    def _params(self) -> Params:
        return Params(
            service=_int(self.service),
            kinds=tuple(self.kinds),
            hours=WINDOWS.get(self.window, 24),
            alert=_int(self.alert),
            problem=_int(self.problem),
        )

    def _live_params(self) -> Params | None:
        return self._params() if self.loaded else None

    @staticmethod
    def _fetch(params: Params) -> TimelineData:
        return _fetch(params)

    def _apply(self, data: TimelineData) -> None:
        self.services, self.members = data.services, data.members
        self.entries = [_cells(e) for e in data.entries]
        self.anchor = _cells(data.anchor) if data.anchor else {}
        self.covering = ", ".join(data.covering)
        self.missing, self.loaded, self.error = data.missing, True, ""

    async def _reload(self) -> None:
        try:
            self._apply(await asyncio.to_thread(_fetch, self._params()))
        except SQLAlchemyError as exc:
            log.error("timeline.load_failed", error=str(exc).splitlines()[0])
            self.error = "The database is unreachable; the timeline cannot be shown right now."

    @rx.event
    @protected("read")
    async def load(self) -> None:
        """``?service=<id>``, ``?alert=<id>`` or ``?problem=<id>`` (links from other pages)."""
        params = self.router.url.query_parameters
        self.is_admin = "admin" in caller().permissions
        self.alert = str(_int(params.get("alert")) or "")
        self.problem = str(_int(params.get("problem")) or "")
        if params.get("service"):
            self.service = str(_int(params.get("service")) or "")
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_service(self, name: str) -> None:
        self.service = next((s["id"] for s in self.services if s["name"] == name), "")
        self.alert = self.problem = ""
        await self._reload()

    @rx.event
    @protected("read")
    async def toggle_kind(self, kind: str) -> None:
        if kind in t.KINDS:
            chosen = set(self.kinds) ^ {kind}
            self.kinds = [k for k in t.KINDS if k in chosen]
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_window(self, value: str | list[str]) -> None:
        self.window = single(value) if single(value) in WINDOWS else "24"
        await self._reload()

    @rx.event
    @protected("read")
    async def show_everything(self) -> None:
        """Leave "what changed before this?" for the service's whole timeline."""
        self.alert = self.problem = ""
        await self._reload()

    # ---------- services (admin) ----------

    async def _run(self, action: Callable[[Session, User], object], done: str) -> Any:
        try:
            refused = await asyncio.to_thread(_change, action)
        except SQLAlchemyError as exc:
            log.error("timeline.change_failed", error=str(exc).splitlines()[0])
            return rx.toast.error("The database is unreachable; nothing was changed.")
        await self._reload()
        return rx.toast.error(refused) if refused else rx.toast.success(done)

    @rx.event
    @protected("admin")
    async def create_service(self, form: dict[str, Any]) -> Any:
        name, description = str(form.get("name", ""))[:200], str(form.get("description", ""))
        return await self._run(
            lambda s, actor: service_map.create_service(
                s, actor=actor, name=name, description=description[:1000]
            ),
            f"Service {name.strip()} created.",
        )

    @rx.event
    @protected("admin")
    async def delete_service(self, service_id: str) -> Any:
        sid = _int(service_id)
        if str(sid) == self.service:
            self.service = ""
        return await self._run(
            lambda s, actor: service_map.delete_service(s, actor=actor, service_id=sid),
            "Service deleted.",
        )

    @rx.event
    @protected("admin")
    async def add_member(self, form: dict[str, Any]) -> Any:
        name = str(form.get("service", ""))
        sid = next((_int(s["id"]) for s in self.services if s["name"] == name), None)
        kind = str(form.get("kind", ""))
        kind = next((k for k, label in service_map.KINDS.items() if label == kind), kind)
        value, namespace = str(form.get("value", ""))[:300], str(form.get("namespace", ""))[:300]
        workload = str(form.get("workload", ""))[:300]
        return await self._run(
            lambda s, actor: service_map.add_member(
                s, actor=actor, service_id=sid, kind=kind, value=value,
                namespace=namespace, workload=workload,
            ),
            "Member added.",
        )  # fmt: skip

    @rx.event
    @protected("admin")
    async def remove_member(self, member_id: str) -> Any:
        mid = _int(member_id)
        return await self._run(
            lambda s, actor: service_map.remove_member(s, actor=actor, member_id=mid),
            "Member removed.",
        )
