"""My notifications: each person's preferences, and the copies of policy notifications they get.

Whenever a policy notifies a group, each person who opted in gets by email the part of that
notification they want: alerts of at least their minimum severity, of their teams (a ``team``
label, or a ``namespace`` label a team of theirs owns; no team chosen: every alert), and during
their quiet hours (in their own time zone) only critical alerts, unless they opted out of those
too. A copy is a delivery of kind ``personal``, sent and retried like the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from opssight.models import NotificationDelivery, NotificationPreference, Team, TeamNamespace, User
from opssight.models.base import utcnow
from opssight.schemas.alerting import PreferenceForm
from opssight.services import audit

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
KIND = "personal"


@dataclass(frozen=True)
class Subscriber:
    user_id: int
    address: str
    min_rank: int
    teams: frozenset[str]
    quiet: tuple[time, time] | None
    zone: ZoneInfo
    critical_in_quiet: bool


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(quiet: tuple[time, time] | None, zone: ZoneInfo, now: datetime) -> bool:
    """Whether ``now`` falls in ``[start, end)`` local time (across midnight when end < start)."""
    if quiet is None or quiet[0] == quiet[1]:
        return False
    start, end = quiet
    local = now.astimezone(zone).time().replace(second=0, microsecond=0)
    return start <= local < end if start < end else local >= start or local < end


class Audience:
    """The people who opted in and the namespaces each team owns, read at first use in a pass."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.copied: set[tuple[int, str, str]] = set()  # (user, alert, state) sent this pass

    @cached_property
    def subscribers(self) -> list[Subscriber]:
        query = (
            select(NotificationPreference, User.email)
            .join(User, User.id == NotificationPreference.user_id)
            .where(NotificationPreference.enabled, User.is_active)
            .order_by(NotificationPreference.user_id)
        )
        found = []
        for prefs, own_email in self.session.exec(query):
            address = prefs.email or own_email or ""
            if not address:
                continue
            quiet = None
            if prefs.quiet_start and prefs.quiet_end:
                quiet = (_clock(prefs.quiet_start), _clock(prefs.quiet_end))
            found.append(
                Subscriber(
                    user_id=prefs.user_id,
                    address=address,
                    min_rank=SEVERITY_RANK.get(prefs.min_severity, 0),
                    teams=frozenset(prefs.teams),
                    quiet=quiet,
                    zone=ZoneInfo(prefs.timezone),
                    critical_in_quiet=prefs.critical_in_quiet,
                )
            )
        return found

    @cached_property
    def namespace_owners(self) -> dict[str, set[str]]:
        query = select(TeamNamespace.namespace, Team.slug).join(
            Team, Team.id == TeamNamespace.team_id
        )
        owners: dict[str, set[str]] = {}
        for namespace, slug in self.session.exec(query):
            owners.setdefault(namespace, set()).add(slug)
        return owners

    def _teams(self, labels: dict[str, str]) -> set[str]:
        teams = set(self.namespace_owners.get(labels.get("namespace", ""), set()))
        return teams | ({labels["team"]} if labels.get("team") else set())

    def wants(self, who: Subscriber, alert: dict[str, Any], now: datetime) -> bool:
        """Whether this alert (as a notification body lists it) goes to this person now."""
        severity = alert["severity"] or alert["labels"].get("severity", "")
        if SEVERITY_RANK.get(severity, 0) < who.min_rank:
            return False
        if who.teams and not who.teams & self._teams(alert["labels"]):
            return False
        if in_quiet_hours(who.quiet, who.zone, now):
            return severity == "critical" and who.critical_in_quiet
        return True

    def copies(self, delivery: NotificationDelivery) -> list[NotificationDelivery]:
        """The personal copies of a policy's notification (an alert and state at most once per
        person and pass, however many policies notify it)."""
        made = []
        for who in self.subscribers:
            kept = []
            for alert in delivery.payload["alerts"]:
                seen = (who.user_id, f"{alert['source']}:{alert['fingerprint']}", alert["state"])
                if seen not in self.copied and self.wants(who, alert, delivery.created_at):
                    kept.append(alert)
                    self.copied.add(seen)
            if not kept:
                continue
            resolved = sum(a["state"] == "Resolved" for a in kept)
            made.append(
                NotificationDelivery(
                    kind=KIND,
                    user_id=who.user_id,
                    recipient=who.address,
                    policy=delivery.policy,
                    group_key=delivery.group_key,
                    firing=len(kept) - resolved,
                    resolved=resolved,
                    payload=delivery.payload
                    | {"alerts": kept, "status": "resolved" if resolved == len(kept) else "firing"},
                    created_at=delivery.created_at,
                    next_attempt_at=delivery.next_attempt_at,
                )
            )
        return made


# ---------- the person's own preferences ----------


def preferences(session: Session, user: User) -> NotificationPreference:
    """This person's preferences (the defaults, not stored, until they save them)."""
    query = select(NotificationPreference).where(NotificationPreference.user_id == user.id)
    return session.exec(query).first() or NotificationPreference(user_id=user.id or 0)


def snapshot(prefs: NotificationPreference) -> dict[str, Any]:
    return {name: getattr(prefs, name) for name in PreferenceForm.model_fields}


def save_preferences(session: Session, user: User, form: PreferenceForm) -> NotificationPreference:
    """Store this person's preferences (audited; only their own). Unchanged: nothing stored."""
    prefs = preferences(session, user)
    if snapshot(prefs) == form.model_dump():
        return prefs
    before = snapshot(prefs) if prefs.id is not None else None
    for name, value in form.model_dump().items():
        setattr(prefs, name, value)
    prefs.updated_at = utcnow()
    session.add(prefs)
    session.flush()
    audit.record(
        session,
        actor=user,
        action="notification_preference.update",
        target_type="user",
        target_id=str(user.id),
        before=before,
        after=snapshot(prefs),
    )
    session.commit()
    session.refresh(prefs)
    return prefs
