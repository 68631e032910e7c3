"""What people change: OpsSight rules (create, edit, enable/disable, delete) and
acknowledgements. Each change is audited in its own transaction and announced on ``alerts``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from opssight.events import Event, get_bus
from opssight.models import Alert, AlertRule, AlertTransition, User
from opssight.models.base import utcnow
from opssight.schemas.alerting import RuleForm
from opssight.services import audit
from opssight.services.alerting.history import TOPIC
from opssight.services.alerting.states import ACTIVE, State

EDITABLE = ("name", "expr", "for_seconds", "severity", "labels", "annotations", "enabled",
            "datasource", "no_data_state")  # fmt: skip


class AlertingError(ValueError):
    """A change that cannot be made, worded for the person who asked."""


def snapshot(rule: AlertRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in EDITABLE}


def _editable(session: Session, rule_id: int) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise AlertingError("That rule no longer exists.")
    if rule.source != "opssight":
        raise AlertingError("Rules read from Prometheus are changed in Prometheus.")
    return rule


def _commit(session: Session, rule: AlertRule, keys: dict[str, str]) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise AlertingError(f"A rule named {rule.name!r} already exists.") from None
    get_bus().publish(Event(topic=TOPIC, keys=keys))


def create_rule(session: Session, form: RuleForm, *, actor: User) -> AlertRule:
    rule = AlertRule(**form.model_dump())
    session.add(rule)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AlertingError(f"A rule named {form.name!r} already exists.") from None
    audit.record(
        session,
        actor=actor,
        action="alert_rule.create",
        target_type="alert_rule",
        target_id=str(rule.id),
        before=None,
        after=snapshot(rule),
    )
    _commit(session, rule, {"rule": str(rule.id)})
    session.refresh(rule)
    return rule


def update_rule(session: Session, rule_id: int, form: RuleForm, *, actor: User) -> AlertRule:
    """Replace the rule's definition (enabling or disabling is one of its fields)."""
    rule = _editable(session, rule_id)
    before = snapshot(rule)
    for name, value in form.model_dump().items():
        setattr(rule, name, value)
    after = snapshot(rule)
    changed = {name for name in EDITABLE if after[name] != before[name]}
    if not changed:
        return rule
    rule.updated_at = utcnow()
    session.add(rule)
    action = "alert_rule.update"
    if changed == {"enabled"}:
        action = "alert_rule.enable" if rule.enabled else "alert_rule.disable"
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="alert_rule",
        target_id=str(rule.id),
        before=before,
        after=after,
    )
    _commit(session, rule, {"rule": str(rule.id)})
    session.refresh(rule)
    return rule


def set_enabled(session: Session, rule_id: int, enabled: bool, *, actor: User) -> AlertRule:
    rule = _editable(session, rule_id)
    form = RuleForm.model_validate(snapshot(rule) | {"enabled": enabled})
    return update_rule(session, rule_id, form, actor=actor)


def delete_rule(session: Session, rule_id: int, *, actor: User) -> None:
    """Delete the rule; its alerts and their history stay (no longer linked to it)."""
    rule = _editable(session, rule_id)
    audit.record(
        session,
        actor=actor,
        action="alert_rule.delete",
        target_type="alert_rule",
        target_id=str(rule.id),
        before=snapshot(rule),
        after=None,
    )
    session.delete(rule)
    _commit(session, rule, {"rule": str(rule_id)})


def acknowledge(session: Session, alert_id: int, *, actor: User) -> Alert:
    """Record who acknowledged an active alert and when (kept as a transition for MTTA)."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise AlertingError("That alert no longer exists.")
    if alert.state not in ACTIVE:
        raise AlertingError(f"Only active alerts can be acknowledged; this one is {alert.state}.")
    if alert.acknowledged_at is not None:
        raise AlertingError(f"Already acknowledged by {alert.acknowledged_by}.")
    now = utcnow()
    alert.acknowledged_by, alert.acknowledged_at = actor.login, now
    session.add(alert)
    state = State(alert.state)
    session.add(
        AlertTransition(
            alert_id=alert.id, from_state=state, to_state=state, at=now, actor=actor.login
        )
    )
    audit.record(
        session,
        actor=actor,
        action="alert.acknowledge",
        target_type="alert",
        target_id=str(alert.id),
        before={"acknowledged_by": None},
        after={"acknowledged_by": actor.login, "acknowledged_at": now.isoformat()},
    )
    session.commit()
    get_bus().publish(Event(topic=TOPIC, keys={"id": str(alert.id)}))
    session.refresh(alert)
    return alert
