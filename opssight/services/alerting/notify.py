"""Notifications: route firing alerts to contact points, grouped, de-duplicated, silenced, and
delivered with retries.

Each pass (a leader-elected job) takes the alerts firing now and those resolved recently, drops
the silenced ones, and routes each through the policies in order (the first whose matchers all
match, and the following ones while a matching policy says ``continue_matching``). Alerts of one
policy with the same ``group_by`` label values form a group, notified as Alertmanager does:
``group_wait`` after the group appears, then again only when its firing set changed (an alert
started firing, or one it announced resolved) and ``group_interval`` has passed since the last
notification, or unchanged after ``repeat_interval``. Every notification is a delivery row,
sent at once and retried with exponential backoff until it is accepted or ``MAX_ATTEMPTS``
failed; its result is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlmodel import Session, col, select

from opssight.events import Event, get_bus
from opssight.integrations import notify as sender
from opssight.models import (
    Alert,
    ContactPoint,
    NotificationDelivery,
    NotificationEscalation,
    NotificationGroup,
    NotificationPolicy,
    Silence,
)
from opssight.models.base import utcnow
from opssight.services import contact_points, source_config
from opssight.services.alerting import personal
from opssight.services.alerting.states import State

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 10.0  # then 20, 40, 80
SEND_TIMEOUT_SECONDS = 10.0
RESOLVED_WINDOW = timedelta(days=1)  # resolutions older than this are never announced
TOPIC = "notifications"


def announce(keys: dict[str, str]) -> None:
    """Tell open views that policies or deliveries changed (after the commit)."""
    get_bus().publish(Event(topic=TOPIC, keys=keys))


def matches(matchers: list[list[str]], labels: dict[str, str]) -> bool:
    """Every ``[name, op, value]`` holds (a missing label is empty; regexes are anchored)."""
    for name, op, value in matchers:
        actual = labels.get(name, "")
        if op in ("=~", "!~"):
            found = re.fullmatch(value, actual) is not None
            holds = found if op == "=~" else not found
        else:
            holds = (actual == value) if op == "=" else (actual != value)
        if not holds:
            return False
    return True


def route(policies: list[NotificationPolicy], labels: dict[str, str]) -> list[NotificationPolicy]:
    chosen = []
    for policy in policies:
        if policy.enabled and matches(policy.matchers, labels):
            chosen.append(policy)
            if not policy.continue_matching:
                break
    return chosen


def labels_of(alert: Alert) -> dict[str, str]:
    """What matchers and grouping see: the alert's labels, its name, severity and source."""
    return {
        "severity": alert.severity,
        **alert.labels,
        "alertname": alert.name,
        "source": alert.source,
    }


def identity(alert: Alert) -> str:
    return f"{alert.source}:{alert.fingerprint}"


@dataclass
class Bucket:
    policy: NotificationPolicy
    labels: dict[str, str]
    firing: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)


def _buckets(session: Session, now: datetime) -> dict[tuple[int, str], Bucket]:
    policies = list(
        session.exec(
            select(NotificationPolicy).order_by(NotificationPolicy.position, NotificationPolicy.id)
        )
    )
    silences = list(
        session.exec(select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now))
    )
    alerts = session.exec(
        select(Alert).where(
            (Alert.state == State.FIRING)
            | ((Alert.state == State.RESOLVED) & (Alert.resolved_at >= now - RESOLVED_WINDOW))
        )
    )
    buckets: dict[tuple[int, str], Bucket] = {}
    for alert in alerts:
        labels = labels_of(alert)
        if any(matches(s.matchers, labels) for s in silences):
            continue
        for policy in route(policies, labels):
            grouped = {name: labels.get(name, "") for name in policy.group_by}
            key = json.dumps(sorted(grouped.items()), separators=(",", ":"))[:500]
            bucket = buckets.setdefault((policy.id or 0, key), Bucket(policy, grouped))
            (bucket.firing if alert.state == State.FIRING else bucket.resolved).append(alert)
    return buckets


def _due(
    policy: NotificationPolicy, group: NotificationGroup, changed: bool, now: datetime
) -> bool:
    if group.last_sent_at is None:
        return now - group.first_seen_at >= timedelta(seconds=policy.group_wait_seconds)
    since = now - group.last_sent_at
    if changed:
        return since >= timedelta(seconds=policy.group_interval_seconds)
    return since >= timedelta(seconds=policy.repeat_interval_seconds)


def _alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "name": alert.name,
        "source": alert.source,
        "state": alert.state,
        "severity": alert.severity,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "value": alert.value,
        "startsAt": alert.firing_at.isoformat() if alert.firing_at else None,
        "endsAt": alert.resolved_at.isoformat() if alert.state == State.RESOLVED else None,
        "fingerprint": alert.fingerprint,
    }


def payload(bucket: Bucket, firing: list[Alert], resolved: list[Alert], now: datetime) -> dict:
    """The generic webhook body (also the source of the Slack and email texts)."""
    return {
        "version": "opssight/1",
        "status": "firing" if firing else "resolved",
        "policy": bucket.policy.name,
        "groupLabels": bucket.labels,
        "alerts": [_alert_json(a) for a in firing + resolved],
        "sentAt": now.isoformat(),
    }


def plan(session: Session, *, now: datetime) -> list[NotificationDelivery]:
    """The notifications due now, added to the session as pending deliveries (the caller
    commits); groups' sending state updated."""
    buckets = _buckets(session, now)
    groups = {(g.policy_id, g.key): g for g in session.exec(select(NotificationGroup))}
    planned: list[NotificationDelivery] = []
    audience = personal.Audience(session)
    for key, group in groups.items():
        if key not in buckets:  # everything silenced or long gone: forget the group
            session.delete(group)
    for (policy_id, key), bucket in buckets.items():
        firing = {identity(a) for a in bucket.firing}
        group = groups.get((policy_id, key))
        if group is None:
            if not firing:
                continue
            group = NotificationGroup(
                policy_id=policy_id, key=key, labels=bucket.labels, first_seen_at=now
            )
            session.add(group)
        if not firing and group.last_sent_at is None:  # resolved before it was ever announced
            session.delete(group)
            continue
        resolved = [a for a in bucket.resolved if identity(a) in group.sent_firing]
        changed = firing != set(group.sent_firing)
        if not (firing or resolved) or not _due(bucket.policy, group, changed, now):
            continue
        delivery = NotificationDelivery(
            contact_point_id=bucket.policy.contact_point_id,
            policy=bucket.policy.name,
            group_key=key,
            firing=len(bucket.firing),
            resolved=len(resolved),
            payload=payload(bucket, bucket.firing, resolved, now),
            created_at=now,
            next_attempt_at=now,
        )
        copies = audience.copies(delivery)
        session.add_all([delivery, *copies])
        planned += [delivery, *copies]
        if firing:
            group.last_sent_at, group.sent_firing = now, sorted(firing)
            session.add(group)
        else:
            session.delete(group)
    return planned + escalate(session, buckets, now)


def escalate(
    session: Session, buckets: dict[tuple[int, str], Bucket], now: datetime
) -> list[NotificationDelivery]:
    """Critical alerts still firing and not acknowledged ``escalate_after_minutes`` after they
    fired, sent to the policy's escalation contact point: once per firing episode (one delivery
    per group and pass)."""
    wanted = [
        (key, bucket)
        for key, bucket in buckets.items()
        if bucket.policy.escalate_after_minutes is not None
        and bucket.policy.escalation_contact_point_id is not None
    ]
    alert_ids = {a.id for _, bucket in wanted for a in bucket.firing}
    if not alert_ids:
        return []
    done = {
        (e.policy_id, e.alert_id, e.firing_at)
        for e in session.exec(
            select(NotificationEscalation).where(
                col(NotificationEscalation.alert_id).in_(alert_ids)
            )
        )
    }
    planned = []
    for (policy_id, key), bucket in wanted:
        after = timedelta(minutes=bucket.policy.escalate_after_minutes or 0)
        due = [
            a
            for a in bucket.firing
            if labels_of(a)["severity"] == "critical"
            and a.acknowledged_at is None
            and a.firing_at is not None
            and now - a.firing_at >= after
            and (policy_id, a.id, a.firing_at) not in done
        ]
        if not due:
            continue
        body = payload(bucket, due, [], now)
        body["escalation"] = {"afterMinutes": bucket.policy.escalate_after_minutes}
        delivery = NotificationDelivery(
            contact_point_id=bucket.policy.escalation_contact_point_id,
            policy=bucket.policy.name,
            group_key=key,
            kind="escalation",
            firing=len(due),
            payload=body,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(delivery)
        session.add_all(
            NotificationEscalation(
                policy_id=policy_id, alert_id=a.id, firing_at=a.firing_at, escalated_at=now
            )
            for a in due
            if a.id is not None and a.firing_at is not None
        )
        planned.append(delivery)
    return planned


def text(body: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain text of a notification (Slack and email)."""
    firing = [a for a in body["alerts"] if a["state"] != State.RESOLVED]
    resolved = [a for a in body["alerts"] if a["state"] == State.RESOLVED]
    group = ", ".join(f"{k}={v}" for k, v in body["groupLabels"].items())
    counts = f"FIRING:{len(firing)}" + (f", RESOLVED:{len(resolved)}" if resolved else "")
    subject = f"[{counts}] {body['policy']}" + (f" ({group})" if group else "")
    if "escalation" in body:
        after = body["escalation"]["afterMinutes"]
        subject = f"ESCALATED (not acknowledged after {after} min) {subject}"
    lines = [subject]
    for alert in firing + resolved:
        summary = alert["annotations"].get("summary") or alert["annotations"].get("description", "")
        lines.append(
            f"- {alert['state']}: {alert['name']} [{alert['severity']}] {summary}".rstrip()
        )
    return subject, "\n".join(lines)


def send(point: ContactPoint, body: dict[str, Any]) -> None:
    """Deliver one notification to a contact point. Raises ``sender.SendError``."""
    if point.kind == "webhook":
        sender.post_json(contact_points.url_of(point), body, timeout=SEND_TIMEOUT_SECONDS)
        return
    subject, content = text(body)
    if point.kind == "slack":
        payload = {"text": content}
        sender.post_json(contact_points.url_of(point), payload, timeout=SEND_TIMEOUT_SECONDS)
        return
    smtp = source_config.current().smtp
    if smtp is None or not smtp.sender:
        raise sender.SendError("no SMTP server: add one in Settings → Connections")
    to = [address.strip() for address in point.target.split(",") if address.strip()]
    sender.send_email(smtp, to, subject, content, timeout=SEND_TIMEOUT_SECONDS)


def _destination(session: Session, delivery: NotificationDelivery) -> ContactPoint | None:
    """The delivery's contact point; for a personal copy, the person's address as an email
    contact point (not stored)."""
    if delivery.kind == personal.KIND and delivery.recipient:
        return ContactPoint(name=delivery.recipient, kind="email", target=delivery.recipient)
    if delivery.contact_point_id:
        return session.get(ContactPoint, delivery.contact_point_id)
    return None


def deliver_due(
    session: Session, *, now: datetime, deliver: Callable[[ContactPoint, dict], None] = send
) -> int:
    """Try every pending delivery whose time has come; returns how many were accepted. Each
    result is committed on its own."""
    due = session.exec(
        select(NotificationDelivery)
        .where(
            NotificationDelivery.status == "pending", NotificationDelivery.next_attempt_at <= now
        )
        .order_by(col(NotificationDelivery.id))
    ).all()
    accepted = 0
    for delivery in due:
        point = _destination(session, delivery)
        delivery.attempts += 1
        try:
            if point is None or not point.enabled:
                raise sender.SendError("the contact point was deleted or disabled")
            deliver(point, delivery.payload)
        except sender.SendError as exc:
            delivery.last_error = str(exc)[:2000]
            final = delivery.attempts >= MAX_ATTEMPTS or point is None or not point.enabled
            delivery.status = "failed" if final else "pending"
            backoff = BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
            delivery.next_attempt_at = now + timedelta(seconds=backoff)
            log.warning(
                "notify.failed",
                delivery=delivery.id,
                attempt=delivery.attempts,
                error=delivery.last_error,
            )
        else:
            delivery.status, delivery.sent_at, delivery.last_error = "sent", now, None
            accepted += 1
        session.add(delivery)
        session.commit()
        announce({"delivery": str(delivery.id)})
    return accepted


def run_pass(session: Session, *, now: Callable[[], datetime] = utcnow) -> int:
    """Plan what is due, then deliver (the job's pass); returns how many were accepted."""
    planned = plan(session, now=now())
    session.commit()
    if planned:
        announce({"planned": str(len(planned))})
    return deliver_due(session, now=now())
