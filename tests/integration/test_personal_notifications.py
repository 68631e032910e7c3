"""My notifications: people who opted in get by email (a local SMTP server, aiosmtpd with
STARTTLS) the part of each policy notification their preferences ask for; quiet hours in their
time zone hold back warnings but not criticals, unless they opted out of those too; once per
group and interval. On both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from opssight.models import (
    Alert,
    AuditLog,
    NotificationDelivery,
    NotificationPolicy,
    Team,
    TeamNamespace,
    User,
)
from opssight.schemas.alerting import PreferenceForm
from opssight.services.alerting import history, personal
from opssight.services.alerting.states import Snapshot, State
from tests.integration import test_notifications
from tests.integration.test_notifications import contact, tick

receiver = test_notifications.receiver  # the local HTTP receiver
mailbox = test_notifications.mailbox  # aiosmtpd requiring STARTTLS

NIGHT = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)  # 23:30 in Paris: quiet hours
DAY = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # 12:00 in Paris
QUIET = {"quiet_start": "22:00", "quiet_end": "07:00", "timezone": "Europe/Paris"}


def person(session: Session, login: str, **prefs: object) -> User:
    user = User(login=login, email=f"{login}@example.org", role="developer")
    session.add(user)
    session.commit()
    session.refresh(user)
    personal.save_preferences(session, user, PreferenceForm.model_validate(prefs))
    return user


def fire(session: Session, name: str, severity: str, at: datetime, **labels: str) -> Alert:
    alert = history.instance(
        session, source="alertmanager", fingerprint=f"{name}-{at:%H%M}", name=name, updated_at=at
    )
    alert.labels = {"alertname": name, "severity": severity, **labels}
    alert.severity = severity
    history.apply(session, alert, Snapshot(State.FIRING, at, at), at=at)
    session.commit()
    return alert


def policy_to_hook(session: Session, url: str) -> None:
    hook = contact(session, "hook", "webhook", f"{url}/hook")
    session.add(
        NotificationPolicy(
            name="everything",
            contact_point_id=hook.id,
            group_by=["alertname"],
            group_wait_seconds=0,
            group_interval_seconds=60,
            repeat_interval_seconds=3600,
        )
    )
    session.commit()


def mail_to(mailbox, address: str) -> list[str]:
    return [content for to, content in mailbox.messages if to == [address]]


def subjects(mailbox, address: str) -> list[str]:
    return sorted(
        line.removeprefix("Subject: ")
        for content in mail_to(mailbox, address)
        for line in content.splitlines()
        if line.startswith("Subject: ")
    )


def test_quiet_hours_hold_back_warnings_not_criticals_unless_opted_out(session, receiver, mailbox):
    policy_to_hook(session, receiver.url)
    person(session, "alice", enabled=True, **QUIET)  # criticals still reach her (default)
    person(session, "bob", enabled=True, critical_in_quiet=False, **QUIET)
    person(session, "carol", enabled=False)  # never opted in
    fire(session, "DiskSlow", "warning", NIGHT)
    fire(session, "DiskFull", "critical", NIGHT)

    assert tick(session, NIGHT) == 3  # two groups to the hook, one copy to alice
    assert len(receiver.got("/hook")) == 2
    assert subjects(mailbox, "alice@example.org") == ["[FIRING:1] everything (alertname=DiskFull)"]
    assert mail_to(mailbox, "bob@example.org") == []
    assert mail_to(mailbox, "carol@example.org") == []
    assert tick(session, NIGHT + timedelta(seconds=30)) == 0  # once per group and interval

    fire(session, "ApiDown", "critical", DAY)
    fire(session, "ApiSlow", "warning", DAY)
    assert tick(session, DAY) == 12  # 4 groups (2 new, 2 repeated) to the hook, alice and bob
    assert subjects(mailbox, "bob@example.org") == [  # quiet hours over: the warning too
        "[FIRING:1] everything (alertname=ApiDown)",
        "[FIRING:1] everything (alertname=ApiSlow)",
        "[FIRING:1] everything (alertname=DiskFull)",
        "[FIRING:1] everything (alertname=DiskSlow)",
    ]
    assert len(mail_to(mailbox, "alice@example.org")) == 5
    assert tick(session, DAY + timedelta(seconds=30)) == 0
    assert len(mailbox.messages) == 9

    copies = session.exec(
        select(NotificationDelivery).where(NotificationDelivery.kind == "personal")
    ).all()
    assert {(c.recipient, c.status) for c in copies} == {
        ("alice@example.org", "sent"),
        ("bob@example.org", "sent"),
    }


def test_severity_teams_and_address_preferences(session, receiver, mailbox):
    policy_to_hook(session, receiver.url)
    team = Team(slug="payments", name="Payments")
    session.add(team)
    session.commit()
    session.add(TeamNamespace(team_id=team.id, cluster="demo-eks", namespace="pay"))
    session.commit()
    person(
        session,
        "dave",
        enabled=True,
        email="dave.pager@example.org",
        min_severity="critical",
        teams=["payments"],
    )
    fire(session, "PayDown", "critical", DAY, namespace="pay")  # a namespace payments owns
    fire(session, "LedgerDown", "critical", DAY, team="payments")
    fire(session, "PaySlow", "warning", DAY, namespace="pay")  # below his minimum
    fire(session, "SearchDown", "critical", DAY, namespace="search")  # not his team's
    tick(session, DAY)
    assert subjects(mailbox, "dave.pager@example.org") == [
        "[FIRING:1] everything (alertname=LedgerDown)",
        "[FIRING:1] everything (alertname=PayDown)",
    ]
    assert mail_to(mailbox, "dave@example.org") == []


def test_preferences_are_validated_and_audited(session):
    with pytest.raises(ValidationError, match="not a time zone like Europe/Paris"):
        PreferenceForm(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="not a time like 22:00"):
        PreferenceForm(quiet_start="25:00", quiet_end="07:00")
    with pytest.raises(ValidationError, match="both a start and an end"):
        PreferenceForm(quiet_start="22:00")
    with pytest.raises(ValidationError, match="not an email address"):
        PreferenceForm(email="dave at example")

    erin = person(session, "erin", enabled=True, **QUIET)
    assert personal.preferences(session, erin).quiet_start == "22:00"
    personal.save_preferences(session, erin, PreferenceForm(enabled=False))
    stored = personal.preferences(session, erin)
    assert (stored.enabled, stored.quiet_start, stored.timezone) == (False, None, "UTC")
    entries = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    assert [e.action for e in entries] == ["notification_preference.update"] * 2
    assert entries[0].before is None and entries[1].before["enabled"] is True


def test_quiet_hours_across_midnight_in_the_persons_zone():
    quiet = (personal._clock("22:00"), personal._clock("07:00"))
    paris = personal.ZoneInfo("Europe/Paris")
    assert personal.in_quiet_hours(quiet, paris, NIGHT)
    assert personal.in_quiet_hours(quiet, paris, datetime(2026, 3, 2, 5, 59, tzinfo=UTC))
    assert not personal.in_quiet_hours(quiet, paris, datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    assert not personal.in_quiet_hours(quiet, paris, DAY)
    assert not personal.in_quiet_hours(None, paris, NIGHT)
