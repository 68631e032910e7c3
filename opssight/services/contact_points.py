"""Contact points (admin): create, edit, enable/disable and delete; Slack and webhook URLs
are encrypted at rest and shown only as their host. Audited, announced on ``alerts``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from opssight.events import Event, get_bus
from opssight.models import ContactPoint, User
from opssight.models.base import utcnow
from opssight.schemas.connections import ContactPointForm
from opssight.services import audit, secrets
from opssight.services.alerting.history import TOPIC


class ContactPointError(ValueError):
    """A change that cannot be made, worded for the admin."""


def url_hint(url: str) -> str:
    """What may be shown of a URL whose path or query is a credential: scheme and host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


def url_of(point: ContactPoint) -> str:
    """The Slack or webhook URL (decrypted)."""
    return secrets.decrypt(point.secret).get("url", "")


def shown(point: ContactPoint) -> dict[str, Any]:
    """The audit and browser view: never the URL itself."""
    return {
        "name": point.name,
        "kind": point.kind,
        "target": point.target,
        "enabled": point.enabled,
    }


def fill(point: ContactPoint, form: ContactPointForm) -> None:
    """Set a point's fields from the form, its URL encrypted."""
    point.name, point.kind, point.enabled = form.name, form.kind, form.enabled
    if form.kind == "email":
        point.target, point.secret = ", ".join(form.addresses), ""
    elif form.url:
        point.target, point.secret = url_hint(form.url), secrets.encrypt({"url": form.url})
    point.updated_at = utcnow()


def _commit(session: Session, point: ContactPoint) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ContactPointError(f"A contact point named {point.name!r} already exists.") from None
    get_bus().publish(Event(topic=TOPIC, keys={"contact_point": str(point.id)}))


def draft(session: Session, point_id: int | None, form: ContactPointForm) -> ContactPointForm:
    """The form with a blank URL filled from the saved point (an edit that keeps the URL)."""
    if form.kind == "email" or form.url or point_id is None:
        if form.kind != "email" and not form.url:
            raise ContactPointError("Enter the URL.")
        return form
    point = session.get(ContactPoint, point_id)
    if point is None or point.kind != form.kind or not point.secret:
        raise ContactPointError("Enter the URL.")
    return form.model_copy(update={"url": url_of(point)})


def save(
    session: Session, point_id: int | None, form: ContactPointForm, *, actor: User
) -> ContactPoint:
    """Create (``point_id`` None) or update a contact point; a blank URL keeps the saved one."""
    point = ContactPoint(name=form.name, kind=form.kind, target="")
    before = None
    if point_id is not None:
        found = session.get(ContactPoint, point_id)
        if found is None:
            raise ContactPointError("That contact point no longer exists.")
        point, before = found, shown(found)
        if form.kind != point.kind and not form.url and form.kind != "email":
            raise ContactPointError("Enter the URL for the new kind.")
    elif form.kind != "email" and not form.url:
        raise ContactPointError("Enter the URL.")
    fill(point, form)
    session.add(point)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ContactPointError(f"A contact point named {form.name!r} already exists.") from None
    audit.record(
        session,
        actor=actor,
        action="contact_point.update" if before else "contact_point.create",
        target_type="contact_point",
        target_id=str(point.id),
        before=before,
        after=shown(point),
    )
    _commit(session, point)
    return point


def delete(session: Session, point_id: int, *, actor: User) -> None:
    point = session.get(ContactPoint, point_id)
    if point is None:
        raise ContactPointError("That contact point no longer exists.")
    audit.record(
        session,
        actor=actor,
        action="contact_point.delete",
        target_type="contact_point",
        target_id=str(point_id),
        before=shown(point),
        after=None,
    )
    session.delete(point)
    _commit(session, point)


def list_points(session: Session) -> list[ContactPoint]:
    return list(session.exec(select(ContactPoint).order_by(ContactPoint.name)))
