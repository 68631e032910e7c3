"""Notification policies as people change them (audited, ordered, validated) and the delivery
log, on both databases; a policy made through the service routes a real notification."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from opssight.models import AuditLog, NotificationGroup, NotificationPolicy, User
from opssight.schemas.alerting import PolicyForm, parse_matchers
from opssight.services.alerting import policies
from opssight.services.alerting.rules import AlertingError
from tests.integration import test_notifications
from tests.integration.test_notifications import T0, contact, fire, tick

receiver = test_notifications.receiver  # the local HTTP receiver


@pytest.fixture
def admin(session: Session) -> User:
    user = User(login="ops-lead", role="admin")
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def form(point_id: int, **values: object) -> PolicyForm:
    return PolicyForm.model_validate(
        {"name": "critical to hook", "contact_point_id": point_id, "group_by": ["alertname"]}
        | values
    )


def actions(session: Session) -> list[str]:
    return [a.action for a in session.exec(select(AuditLog).order_by(AuditLog.id))]


def test_matchers_are_parsed_and_validated() -> None:
    assert parse_matchers('severity = critical\n\nnamespace=~"prod-.*"\nteam!=') == [
        ["severity", "=", "critical"],
        ["namespace", "=~", "prod-.*"],
        ["team", "!=", ""],
    ]
    with pytest.raises(ValueError, match="line 2: expected name op value"):
        parse_matchers("severity=critical\nseverity critical")
    with pytest.raises(ValidationError, match=r"matcher 1 \(pod=~api-\(\): not a valid regex"):
        form(1, matchers=parse_matchers("pod=~api-("))
    with pytest.raises(ValidationError, match="'9lives' is not a label name"):
        form(1, matchers=[["9lives", "=", "x"]])
    with pytest.raises(ValidationError, match="not a label name: bad-name"):
        form(1, group_by=["alertname", "bad-name"])
    with pytest.raises(ValidationError, match="repeat_interval_seconds"):
        form(1, repeat_interval_seconds=5)


def test_policies_are_created_edited_reordered_and_deleted(session: Session, admin: User) -> None:
    hook = contact(session, "hook", "webhook", "http://127.0.0.1:9/hook")
    first = policies.create_policy(
        session, form(hook.id, matchers=[["severity", "=", "critical"]]), actor=admin
    )
    second = policies.create_policy(session, form(hook.id, name="everything"), actor=admin)
    assert [r.policy.name for r in policies.list_policies(session)] == [first.name, second.name]
    assert policies.list_policies(session)[0].contact_point == "hook"

    with pytest.raises(AlertingError, match="already exists"):
        policies.create_policy(session, form(hook.id, name="everything"), actor=admin)
    with pytest.raises(AlertingError, match="contact point no longer exists"):
        policies.create_policy(session, form(hook.id + 100, name="nowhere"), actor=admin)

    edited = policies.update_policy(
        session, first.id, form(hook.id, group_by=["alertname", "namespace"]), actor=admin
    )
    assert edited.group_by == ["alertname", "namespace"]
    policies.set_enabled(session, first.id, False, actor=admin)
    policies.move_policy(session, second.id, -1, actor=admin)
    assert [r.policy.name for r in policies.list_policies(session)] == ["everything", first.name]
    with pytest.raises(AlertingError, match="already first"):
        policies.move_policy(session, second.id, -1, actor=admin)
    policies.delete_policy(session, second.id, actor=admin)
    with pytest.raises(AlertingError, match="no longer exists"):
        policies.delete_policy(session, second.id, actor=admin)
    [left] = policies.list_policies(session)
    assert (left.policy.name, left.policy.enabled) == (first.name, False)
    assert actions(session) == [
        "notification_policy.create",
        "notification_policy.create",
        "notification_policy.update",
        "notification_policy.disable",
        "notification_policy.move",
        "notification_policy.delete",
    ]
    entry = session.exec(select(AuditLog).order_by(AuditLog.id)).all()[2]
    assert entry.before["group_by"] == ["alertname"]
    assert entry.after["group_by"] == ["alertname", "namespace"]


def test_a_policy_routes_and_the_delivery_log_shows_it(
    session: Session, admin: User, receiver
) -> None:
    hook = contact(session, "hook", "webhook", f"{receiver.url}/hook")
    broken = contact(session, "broken", "webhook", f"{receiver.url}/broken")
    made = policies.create_policy(
        session,
        form(hook.id, matchers=[["alertname", "=~", "Disk.*"]], group_wait_seconds=0,
             continue_matching=True),
        actor=admin,
    )  # fmt: skip
    policies.create_policy(
        session, form(broken.id, name="to broken", group_wait_seconds=0), actor=admin
    )
    receiver.fail = 1  # the first POST (to the hook) fails once
    fire(session, "DiskFull", T0)
    assert tick(session, T0) == 1
    [pending] = policies.deliveries(session, status="pending")
    assert (pending.policy, pending.contact_point, pending.firing) == (made.name, "hook", 1)
    assert pending.attempts == 1 and pending.last_error.startswith("HTTP 500")
    assert pending.next_attempt_at is not None
    [sent] = policies.deliveries(session, status="sent")
    assert (sent.policy, sent.contact_point, sent.next_attempt_at) == ("to broken", "broken", None)
    assert len(policies.deliveries(session)) == 2

    policies.delete_policy(session, made.id, actor=admin)  # its groups go, its log stays
    groups = session.exec(select(NotificationGroup.policy_id)).all()
    assert made.id not in groups
    assert len(policies.deliveries(session)) == 2
    assert session.get(NotificationPolicy, made.id) is None
