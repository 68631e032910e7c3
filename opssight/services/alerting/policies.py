"""Notification policies as people change them (create, edit, enable/disable, reorder, delete;
each audited and announced on ``notifications``), the contact points they pick from, and the
delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from opssight.models import ContactPoint, NotificationDelivery, NotificationPolicy, User
from opssight.schemas.alerting import PolicyForm
from opssight.services import audit
from opssight.services.alerting.notify import announce
from opssight.services.alerting.rules import AlertingError

EDITABLE = tuple(PolicyForm.model_fields)
DELIVERY_STATUSES = ("pending", "sent", "failed")


class ContactPointChoice(BaseModel):
    """What the policy form shows of a contact point (never its target)."""

    id: int
    name: str
    kind: str
    enabled: bool


class PolicyRow(BaseModel):
    policy: NotificationPolicy
    contact_point: str
    escalation_contact_point: str = ""


class DeliveryRow(BaseModel):
    id: int
    created_at: datetime
    policy: str
    contact_point: str
    kind: str
    firing: int
    resolved: int
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    """When a pending delivery is tried again (None once sent or given up)."""
    sent_at: datetime | None


def snapshot(policy: NotificationPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in EDITABLE}


def contact_points(session: Session) -> list[ContactPointChoice]:
    query = select(ContactPoint.id, ContactPoint.name, ContactPoint.kind, ContactPoint.enabled)
    return [
        ContactPointChoice(id=i, name=n, kind=k, enabled=e)
        for i, n, k, e in session.exec(query.order_by(ContactPoint.name))
    ]


def _names(session: Session) -> dict[int, str]:
    return dict(session.exec(select(ContactPoint.id, ContactPoint.name)).all())


def list_policies(session: Session) -> list[PolicyRow]:
    """In the order they are tried."""
    names = _names(session)
    query = select(NotificationPolicy).order_by(NotificationPolicy.position, NotificationPolicy.id)
    return [
        PolicyRow(
            policy=p,
            contact_point=names.get(p.contact_point_id, "—"),
            escalation_contact_point=names.get(p.escalation_contact_point_id or 0, ""),
        )
        for p in session.exec(query)
    ]


def _policy(session: Session, policy_id: int) -> NotificationPolicy:
    policy = session.get(NotificationPolicy, policy_id)
    if policy is None:
        raise AlertingError("That policy no longer exists.")
    return policy


def _check(session: Session, form: PolicyForm) -> None:
    if session.get(ContactPoint, form.contact_point_id) is None:
        raise AlertingError("That contact point no longer exists; pick another.")
    escalation = form.escalation_contact_point_id
    if escalation is not None and session.get(ContactPoint, escalation) is None:
        raise AlertingError("That escalation contact point no longer exists; pick another.")


def _commit(session: Session, name: str, policy_id: int | None) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise AlertingError(f"A policy named {name!r} already exists.") from None
    announce({"policy": str(policy_id)})


def _audit(session: Session, actor: User, action: str, policy_id: int | None, **change: Any):
    audit.record(
        session,
        actor=actor,
        action=f"notification_policy.{action}",
        target_type="notification_policy",
        target_id=str(policy_id),
        before=change.get("before"),
        after=change.get("after"),
    )


def create_policy(session: Session, form: PolicyForm, *, actor: User) -> NotificationPolicy:
    """Added last (tried after every existing policy)."""
    _check(session, form)
    last = session.exec(select(func.max(NotificationPolicy.position))).one()
    policy = NotificationPolicy(**form.model_dump(), position=0 if last is None else last + 1)
    session.add(policy)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AlertingError(f"A policy named {form.name!r} already exists.") from None
    _audit(session, actor, "create", policy.id, after=snapshot(policy))
    _commit(session, form.name, policy.id)
    session.refresh(policy)
    return policy


def update_policy(
    session: Session, policy_id: int, form: PolicyForm, *, actor: User
) -> NotificationPolicy:
    """Replace the policy's definition (enabling or disabling is one of its fields)."""
    policy = _policy(session, policy_id)
    _check(session, form)
    before = snapshot(policy)
    for name, value in form.model_dump().items():
        setattr(policy, name, value)
    after = snapshot(policy)
    changed = {name for name in EDITABLE if after[name] != before[name]}
    if not changed:
        return policy
    session.add(policy)
    action = "update"
    if changed == {"enabled"}:
        action = "enable" if policy.enabled else "disable"
    _audit(session, actor, action, policy.id, before=before, after=after)
    _commit(session, form.name, policy.id)
    session.refresh(policy)
    return policy


def set_enabled(
    session: Session, policy_id: int, enabled: bool, *, actor: User
) -> NotificationPolicy:
    policy = _policy(session, policy_id)
    form = PolicyForm.model_validate(snapshot(policy) | {"enabled": enabled})
    return update_policy(session, policy_id, form, actor=actor)


def move_policy(session: Session, policy_id: int, offset: int, *, actor: User) -> None:
    """Swap the policy with its neighbour ``offset`` places away (-1 earlier, 1 later)."""
    policies = [row.policy for row in list_policies(session)]
    index = next((i for i, p in enumerate(policies) if p.id == policy_id), None)
    if index is None:
        raise AlertingError("That policy no longer exists.")
    if not 0 <= index + offset < len(policies):
        raise AlertingError("That policy is already " + ("first." if offset < 0 else "last."))
    for position, policy in enumerate(policies):  # positions become 0..n-1 on the way
        policy.position = position
    moved, other = policies[index], policies[index + offset]
    before = moved.position
    moved.position, other.position = other.position, moved.position
    session.add_all(policies)
    _audit(
        session,
        actor,
        "move",
        moved.id,
        before={"position": before},
        after={"position": moved.position},
    )
    _commit(session, moved.name, moved.id)


def delete_policy(session: Session, policy_id: int, *, actor: User) -> None:
    """Delete the policy and its groups' sending state; its deliveries stay in the log."""
    policy = _policy(session, policy_id)
    _audit(session, actor, "delete", policy.id, before=snapshot(policy))
    session.delete(policy)
    _commit(session, policy.name, policy_id)


def deliveries(session: Session, *, status: str = "", limit: int = 100) -> list[DeliveryRow]:
    """The newest deliveries (of one status, or all)."""
    names = _names(session)
    query = select(NotificationDelivery)
    if status:
        query = query.where(NotificationDelivery.status == status)
    rows = list(session.exec(query.order_by(col(NotificationDelivery.id).desc()).limit(limit)))
    people = {d.user_id for d in rows if d.user_id is not None}
    logins = dict(session.exec(select(User.id, User.login).where(col(User.id).in_(people))).all())
    return [
        DeliveryRow(
            id=d.id or 0,
            created_at=d.created_at,
            policy=d.policy,
            contact_point=(
                f"{logins.get(d.user_id, 'a person')}'s own address"
                if d.kind == "personal"
                else names.get(d.contact_point_id or 0, "—")
            ),
            kind=d.kind,
            firing=d.firing,
            resolved=d.resolved,
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            sent_at=d.sent_at,
        )
        for d in rows
    ]
