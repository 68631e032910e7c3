"""Connections saved in Settings (admin): validate, save, enable/disable, delete, and re-encrypt
under a new key. Secrets are encrypted before they reach the database, never returned to the
browser (only which ones are set), never logged. Audited; announced on ``connections``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from opssight.events import Event, get_bus
from opssight.logs import redact
from opssight.models import Connection, ContactPoint, User
from opssight.models.base import utcnow
from opssight.schemas.connections import FORMS, ConnectionForm, KubeContexts, read_kubeconfig
from opssight.services import audit, secrets, source_config

TOPIC = "connections"


class ConnectionsError(ValueError):
    """A connection that cannot be tested or saved, worded for the admin."""


class SetupStep(BaseModel):
    """One line of the first-run checklist."""

    kind: str
    title: str
    done: bool


def checklist(session: Session) -> list[SetupStep]:
    """What is connected so far (by environment or Settings), in the order to connect it."""
    config = source_config.load(session)
    points = session.exec(select(ContactPoint.id).where(ContactPoint.enabled)).first()
    return [
        SetupStep(kind="github", title="GitHub pipelines and DORA", done=config.github is not None),
        SetupStep(
            kind="kubernetes", title="Kubernetes clusters", done=config.kubernetes is not None
        ),
        SetupStep(kind="prometheus", title="Prometheus metrics", done=bool(config.prometheus)),
        SetupStep(
            kind="alertmanager", title="Alertmanager alerts", done=bool(config.alertmanager_token)
        ),
        SetupStep(
            kind="smtp", title="Email server for notifications", done=config.smtp is not None
        ),
        SetupStep(kind="contact", title="Where alerts are sent", done=points is not None),
    ]


class ConnectionView(BaseModel):
    """What the browser may see of a saved connection."""

    id: int
    kind: str
    name: str
    enabled: bool
    settings: dict[str, Any]
    secrets_set: list[str]
    updated_at: datetime
    updated_by: str


def describe(exc: ValidationError) -> str:
    """One readable line per problem, naming the field."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def _form_class(kind: str) -> type[ConnectionForm]:
    if kind not in FORMS:
        raise ConnectionsError(f"Unknown connection kind {kind!r}.")
    return FORMS[kind]


def draft(
    session: Session, kind: str, values: dict[str, Any], connection_id: int | None = None
) -> ConnectionForm:
    """The validated form; blank secret fields of an edit keep the saved values."""
    form_class = _form_class(kind)
    values = {**values, "name": values.get("name") or (kind if form_class.SINGLE else "")}
    if connection_id is not None:
        row = session.get(Connection, connection_id)
        if row is None or row.kind != kind:
            raise ConnectionsError("That connection no longer exists.")
        saved = secrets.decrypt(row.secrets)
        for name in form_class.SECRETS:
            if not values.get(name):
                values[name] = saved.get(name, "")
    try:
        form = form_class.model_validate(values)
    except ValidationError as exc:
        raise ConnectionsError(describe(exc)) from None
    if not form.name:
        raise ConnectionsError("name: give the connection a name")
    return form


def _public(row: Connection) -> dict[str, Any]:
    """The row's settings as shown and audited: a URL saved with ``user:password@`` (before
    forms refused them) has them redacted."""
    return {k: redact(v) if isinstance(v, str) else v for k, v in row.settings.items()}


def _shown(row: Connection) -> dict[str, Any]:
    names = sorted(secrets.decrypt(row.secrets))
    return {"name": row.name, "enabled": row.enabled, **_public(row), "secrets_set": names}


def _commit(session: Session, row: Connection) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConnectionsError(f"A connection named {row.name!r} already exists.") from None
    source_config.invalidate()
    get_bus().publish(Event(topic=TOPIC, keys={"kind": row.kind, "name": row.name}))


def save(
    session: Session, form: ConnectionForm, *, actor: User, connection_id: int | None = None
) -> Connection:
    """Create or update the connection the admin confirmed (``draft`` made the form)."""
    if connection_id is None:
        if (
            form.SINGLE
            and session.exec(select(Connection).where(Connection.kind == form.KIND)).first()
        ):
            raise ConnectionsError(f"A {form.KIND} connection exists already: edit it instead.")
        row, before = Connection(kind=form.KIND, name=form.name), None
    else:
        found = session.get(Connection, connection_id)
        if found is None:
            raise ConnectionsError("That connection no longer exists.")
        row, before = found, _shown(found)
    row.name, row.enabled, row.settings = form.name, form.enabled, form.public()
    row.secrets = secrets.encrypt(form.secret_values())
    row.updated_at, row.updated_by = utcnow(), actor.login
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ConnectionsError(f"A connection named {form.name!r} already exists.") from None
    audit.record(
        session,
        actor=actor,
        action="connection.update" if before else "connection.create",
        target_type="connection",
        target_id=str(row.id),
        before=before,
        after=_shown(row),
    )
    _commit(session, row)
    return row


def set_enabled(session: Session, connection_id: int, enabled: bool, *, actor: User) -> Connection:
    row = session.get(Connection, connection_id)
    if row is None:
        raise ConnectionsError("That connection no longer exists.")
    before = _shown(row)
    row.enabled, row.updated_at, row.updated_by = enabled, utcnow(), actor.login
    audit.record(
        session,
        actor=actor,
        action="connection.enable" if enabled else "connection.disable",
        target_type="connection",
        target_id=str(row.id),
        before=before,
        after=_shown(row),
    )
    _commit(session, row)
    return row


def delete(session: Session, connection_id: int, *, actor: User) -> None:
    row = session.get(Connection, connection_id)
    if row is None:
        raise ConnectionsError("That connection no longer exists.")
    audit.record(
        session,
        actor=actor,
        action="connection.delete",
        target_type="connection",
        target_id=str(row.id),
        before=_shown(row),
        after=None,
    )
    session.delete(row)
    _commit(session, row)


def list_connections(session: Session) -> list[ConnectionView]:
    rows = session.exec(select(Connection).order_by(Connection.kind, Connection.name))
    return [
        ConnectionView(
            id=row.id or 0,
            kind=row.kind,
            name=row.name,
            enabled=row.enabled,
            settings=_public(row),
            secrets_set=sorted(secrets.decrypt(row.secrets)),
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )
        for row in rows
    ]


def kubeconfig_contexts(
    session: Session, kubeconfig: str, connection_id: int | None = None
) -> KubeContexts:
    """The contexts of an uploaded or pasted kubeconfig; left blank while editing a saved
    Kubernetes connection, those of its saved kubeconfig. Parsed as YAML data only."""
    if not kubeconfig.strip() and connection_id is not None:
        row = session.get(Connection, connection_id)
        if row is None or row.kind != "kubernetes":
            raise ConnectionsError("That connection no longer exists.")
        kubeconfig = secrets.decrypt(row.secrets).get("kubeconfig", "")
    if not kubeconfig.strip():
        raise ConnectionsError("No kubeconfig: upload or paste one to pick its contexts.")
    try:
        return read_kubeconfig(kubeconfig)
    except ValueError as exc:
        raise ConnectionsError(str(exc)) from None


def rotate_all(session: Session) -> int:
    """Re-encrypt every stored secret under the current key; returns how many were rewritten."""
    count = 0
    for row in session.exec(select(Connection)):
        row.secrets = secrets.rotate(row.secrets)
        count += 1
    for point in session.exec(select(ContactPoint).where(ContactPoint.secret != "")):
        point.secret = secrets.rotate(point.secret)
        count += 1
    session.commit()
    source_config.invalidate()
    return count
