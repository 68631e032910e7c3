"""Alerts → Notifications: the notification policies (changed with ``write``) and the delivery
log, live from the ``notifications`` topic."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx
import structlog
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from opssight import db
from opssight.models import NotificationPolicy
from opssight.schemas.alerting import PolicyForm, parse_matchers
from opssight.services.alerting import policies
from opssight.services.alerting.policies import ContactPointChoice, DeliveryRow, PolicyRow
from opssight.services.alerting.rules import AlertingError
from opssight.state.alerts import duration_text, parse_duration
from opssight.state.formatting import ago, when
from opssight.state.live import live_view
from opssight.state.session import caller, protected, signed_in_user

log = structlog.get_logger(__name__)

DELIVERY_LIMIT = 100
TEXT_FIELDS = ("name", "matchers", "contact_point", "group_by", "group_wait", "group_interval",
               "repeat_interval", "escalate_after", "escalation_point")  # fmt: skip
NO_ESCALATION = "none"  # the picker's item for no escalation contact point
FLAGS = ("continue_matching", "enabled")


@dataclass(frozen=True)
class NotificationsData:
    policies: list[PolicyRow]
    contact_points: list[ContactPointChoice]
    deliveries: list[DeliveryRow]


def _fetch(status: str) -> NotificationsData:
    with db.session_scope() as session:
        return NotificationsData(
            policies=policies.list_policies(session),
            contact_points=policies.contact_points(session),
            deliveries=policies.deliveries(session, status=status, limit=DELIVERY_LIMIT),
        )


def matchers_text(matchers: list[list[str]]) -> str:
    return "\n".join(f"{name}{op}{value}" for name, op, value in matchers)


def _policy_cells(row: PolicyRow) -> dict[str, str]:
    p = row.policy
    return {
        "id": str(p.id),
        "name": p.name,
        "matchers": matchers_text(p.matchers).replace("\n", ", ") or "every alert",
        "contact_point": row.contact_point,
        "group_by": ", ".join(p.group_by) or "—",
        "timing": " / ".join(
            duration_text(s)
            for s in (p.group_wait_seconds, p.group_interval_seconds, p.repeat_interval_seconds)
        ),
        "continue": "yes" if p.continue_matching else "",
        "enabled": "yes" if p.enabled else "",
        "escalation": (
            f"critical after {p.escalate_after_minutes} min → {row.escalation_contact_point}"
            if p.escalate_after_minutes is not None and row.escalation_contact_point
            else ""
        ),
    }


def _delivery_cells(d: DeliveryRow) -> dict[str, str]:
    tone = {"sent": "ok", "pending": "degraded", "failed": "down"}.get(d.status, "unknown")
    return {
        "id": str(d.id),
        "at": when(d.created_at),
        "policy": d.policy,
        "contact_point": d.contact_point,
        "kind": d.kind,
        "firing": str(d.firing),
        "resolved": str(d.resolved),
        "status": d.status,
        "tone": tone,
        "attempts": str(d.attempts),
        "error": d.last_error or "",
        "next": f"{when(d.next_attempt_at)} UTC" if d.next_attempt_at else "",
        "sent": f"{ago(d.sent_at)} ago" if d.sent_at else "",
    }


def _change(action: Callable[[Session], object]) -> str | None:
    """Run one change; the refusal's wording if it was refused."""
    with db.session_scope() as session:
        try:
            action(session)
        except AlertingError as exc:
            session.rollback()
            return str(exc)
    return None


def _get_policy(policy_id: int) -> NotificationPolicy | None:
    with db.session_scope() as session:
        return session.get(NotificationPolicy, policy_id)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def form_errors(exc: ValidationError, what: str = "policy") -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or what}: "
        + str(e["msg"]).removeprefix("Value error, ")
        for e in exc.errors()
    )


@live_view("notifications")
class NotificationsState(rx.State):
    policies: list[dict[str, str]] = []
    contact_points: list[dict[str, str]] = []
    deliveries: list[dict[str, str]] = []
    delivery_status: str = ""
    can_write: bool = False
    loaded: bool = False
    error: str = ""
    # the policy form
    form_open: bool = False
    form_id: int = 0  # 0: a new policy
    form_name: str = ""
    form_matchers: str = ""
    form_contact_point: str = ""
    form_group_by: str = "alertname"
    form_group_wait: str = "30s"
    form_group_interval: str = "5m"
    form_repeat_interval: str = "4h"
    form_continue_matching: bool = False
    form_enabled: bool = True
    form_escalate_after: str = ""  # minutes; empty: no escalation
    form_escalation_point: str = NO_ESCALATION
    form_error: str = ""

    def _live_params(self) -> str | None:
        return self.delivery_status if self.loaded else None

    @staticmethod
    def _fetch(status: str) -> NotificationsData:
        return _fetch(status)

    def _apply(self, data: NotificationsData) -> None:
        self.policies = [_policy_cells(p) for p in data.policies]
        self.contact_points = [
            {"id": str(c.id), "label": f"{c.name} ({c.kind}{'' if c.enabled else ', disabled'})"}
            for c in data.contact_points
        ]
        self.deliveries = [_delivery_cells(d) for d in data.deliveries]
        self.loaded, self.error = True, ""

    async def _reload(self) -> None:
        try:
            self._apply(await asyncio.to_thread(_fetch, self.delivery_status))
        except SQLAlchemyError as exc:
            log.error("notifications.load_failed", error=str(exc).splitlines()[0])
            self.error = "The database is unreachable; notifications cannot be shown right now."

    async def _run(self, action: Callable[[Session], object], done: str) -> Any:
        try:
            refused = await asyncio.to_thread(_change, action)
        except SQLAlchemyError as exc:
            log.error("notifications.change_failed", error=str(exc).splitlines()[0])
            return rx.toast.error("The database is unreachable; nothing was changed.")
        await self._reload()
        if refused:
            log.info("notifications.change_refused", reason=refused)
            return rx.toast.error(refused)
        return rx.toast.success(done)

    @rx.event
    @protected("read")
    async def load(self) -> None:
        self.can_write = "write" in caller().permissions
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_status(self, value: str) -> None:
        self.delivery_status = value if value in policies.DELIVERY_STATUSES else ""
        await self._reload()

    # ---------- the policy form (write) ----------

    @rx.event
    @protected("write")
    async def new_policy(self) -> None:
        self.form_id, self.form_name, self.form_matchers = 0, "", ""
        self.form_contact_point = self.contact_points[0]["id"] if self.contact_points else ""
        self.form_group_by, self.form_group_wait = "alertname", "30s"
        self.form_group_interval, self.form_repeat_interval = "5m", "4h"
        self.form_continue_matching, self.form_enabled = False, True
        self.form_escalate_after, self.form_escalation_point = "", NO_ESCALATION
        self.form_error, self.form_open = "", True

    @rx.event
    @protected("write")
    async def edit_policy(self, policy_id: str) -> Any:
        found = _int(policy_id)
        policy = await asyncio.to_thread(_get_policy, found) if found is not None else None
        if policy is None:
            return rx.toast.error("That policy no longer exists.")
        self.form_id, self.form_name = policy.id or 0, policy.name
        self.form_matchers = matchers_text(policy.matchers)
        self.form_contact_point = str(policy.contact_point_id)
        self.form_group_by = ", ".join(policy.group_by)
        self.form_group_wait = duration_text(policy.group_wait_seconds)
        self.form_group_interval = duration_text(policy.group_interval_seconds)
        self.form_repeat_interval = duration_text(policy.repeat_interval_seconds)
        self.form_continue_matching, self.form_enabled = policy.continue_matching, policy.enabled
        after, point = policy.escalate_after_minutes, policy.escalation_contact_point_id
        self.form_escalate_after = "" if after is None else str(after)
        self.form_escalation_point = str(point) if point else NO_ESCALATION
        self.form_error, self.form_open = "", True
        return None

    @rx.event
    def close_form(self) -> None:
        self.form_open, self.form_error = False, ""

    @rx.event
    def set_form_field(self, field: str, value: Any) -> None:
        """Every input of the policy form (a forged field name changes nothing)."""
        if field in FLAGS:
            setattr(self, f"form_{field}", bool(value))
        elif field in TEXT_FIELDS:
            setattr(self, f"form_{field}", str(value)[:8000])

    def _form(self) -> PolicyForm:
        after = self.form_escalate_after.strip()
        if after and _int(after) is None:
            raise ValueError(f"Escalate after: {after!r} is not a whole number of minutes")
        return PolicyForm(
            name=self.form_name,
            matchers=parse_matchers(self.form_matchers),
            contact_point_id=_int(self.form_contact_point) or 0,
            group_by=[n.strip() for n in self.form_group_by.split(",") if n.strip()],
            group_wait_seconds=parse_duration(self.form_group_wait, "Group wait"),
            group_interval_seconds=parse_duration(self.form_group_interval, "Group interval"),
            repeat_interval_seconds=parse_duration(self.form_repeat_interval, "Repeat interval"),
            continue_matching=self.form_continue_matching,
            enabled=self.form_enabled,
            escalate_after_minutes=_int(after) if after else None,
            escalation_contact_point_id=_int(self.form_escalation_point),
        )

    @rx.event
    @protected("write")
    async def save_policy(self) -> Any:
        try:
            data = self._form()
        except ValidationError as exc:
            self.form_error = form_errors(exc)
            log.info("notifications.bad_policy", error=self.form_error)
            return None
        except ValueError as exc:
            self.form_error = str(exc)
            log.info("notifications.bad_policy", error=self.form_error)
            return None
        actor, policy_id = signed_in_user(), self.form_id

        def action(session: Session) -> NotificationPolicy:
            if policy_id:
                return policies.update_policy(session, policy_id, data, actor=actor)
            return policies.create_policy(session, data, actor=actor)

        try:
            refused = await asyncio.to_thread(_change, action)
        except SQLAlchemyError as exc:
            log.error("notifications.change_failed", error=str(exc).splitlines()[0])
            self.form_error = "The database is unreachable; the policy was not saved."
            return None
        if refused:
            self.form_error = refused
            return None
        self.form_open, self.form_error = False, ""
        await self._reload()
        return rx.toast.success(f"Saved policy “{data.name}”.")

    @rx.event
    @protected("write")
    async def toggle_policy(self, policy_id: str, enabled: bool) -> Any:
        found, on = _int(policy_id), bool(enabled)
        if found is None:
            return rx.toast.error("No such policy.")
        actor = signed_in_user()
        done = "Policy enabled." if on else "Policy disabled."
        return await self._run(lambda s: policies.set_enabled(s, found, on, actor=actor), done)

    @rx.event
    @protected("write")
    async def move_policy(self, policy_id: str, offset: int) -> Any:
        found, step = _int(policy_id), 1 if (_int(offset) or 0) > 0 else -1
        if found is None:
            return rx.toast.error("No such policy.")
        actor = signed_in_user()
        return await self._run(
            lambda s: policies.move_policy(s, found, step, actor=actor), "Policy moved."
        )

    @rx.event
    @protected("write")
    async def delete_policy(self, policy_id: str) -> Any:
        found = _int(policy_id)
        if found is None:
            return rx.toast.error("No such policy.")
        actor = signed_in_user()
        return await self._run(
            lambda s: policies.delete_policy(s, found, actor=actor), "Policy deleted."
        )
