"""Alerts → Notifications → My notifications: the signed-in person's own preferences (what is
sent to their address, quiet hours). Anyone signed in changes their own, and only theirs."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx
import structlog
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from opssight import db
from opssight.models import NotificationPreference, Team, User
from opssight.schemas.alerting import PreferenceForm
from opssight.services.alerting import personal
from opssight.state.notifications import form_errors
from opssight.state.session import caller, protected, signed_in_user

log = structlog.get_logger(__name__)

TEXT_FIELDS = ("email", "min_severity", "quiet_start", "quiet_end", "timezone")
FLAGS = ("enabled", "critical_in_quiet")


def _read(user: User) -> tuple[NotificationPreference, list[str]]:
    with db.session_scope() as session:
        prefs = personal.preferences(session, user)
        teams = list(session.exec(select(Team.slug).order_by(Team.slug)))
        session.expunge_all()
        return prefs, teams


def _save(user: User, form: PreferenceForm) -> None:
    with db.session_scope() as session:
        personal.save_preferences(session, user, form)


class MyNotificationsState(rx.State):
    signed_in: bool = False
    own_email: str = ""
    all_teams: list[str] = []
    enabled: bool = False
    email: str = ""
    min_severity: str = "warning"
    teams: list[str] = []
    quiet_start: str = ""
    quiet_end: str = ""
    timezone: str = "UTC"
    critical_in_quiet: bool = True
    error: str = ""

    def _show(self, prefs: NotificationPreference) -> None:
        self.enabled, self.email = prefs.enabled, prefs.email
        self.min_severity, self.teams = prefs.min_severity, list(prefs.teams)
        self.quiet_start, self.quiet_end = prefs.quiet_start or "", prefs.quiet_end or ""
        self.timezone, self.critical_in_quiet = prefs.timezone, prefs.critical_in_quiet

    @rx.event
    @protected("read")
    async def load(self) -> None:
        user = caller().user
        self.signed_in, self.error = user is not None, ""
        if user is None:
            return
        self.own_email = user.email or ""
        try:
            prefs, self.all_teams = await asyncio.to_thread(_read, user)
        except SQLAlchemyError as exc:
            log.error("my_notifications.load_failed", error=str(exc).splitlines()[0])
            self.error = "The database is unreachable; your preferences cannot be shown."
            return
        self._show(prefs)

    @rx.event
    def set_field(self, field: str, value: Any) -> None:
        """Every input of the form (a forged field name changes nothing)."""
        if field in FLAGS:
            setattr(self, field, bool(value))
        elif field in TEXT_FIELDS:
            setattr(self, field, str(value)[:320])

    @rx.event
    def choose_team(self, slug: str, chosen: bool) -> None:
        if slug not in self.all_teams:
            return
        others = [t for t in self.teams if t != slug]
        self.teams = [*others, slug] if chosen else others

    @rx.event
    @protected(None)
    async def save(self) -> Any:
        """Store the signed-in person's own preferences."""
        try:
            form = PreferenceForm(
                enabled=self.enabled,
                email=self.email,
                min_severity=self.min_severity,  # type: ignore[arg-type]
                teams=self.teams,
                quiet_start=self.quiet_start,
                quiet_end=self.quiet_end,
                timezone=self.timezone,
                critical_in_quiet=self.critical_in_quiet,
            )
        except ValidationError as exc:
            self.error = form_errors(exc, "quiet hours")
            log.info("my_notifications.bad_form", error=self.error)
            return None
        try:
            await asyncio.to_thread(_save, signed_in_user(), form)
        except SQLAlchemyError as exc:
            log.error("my_notifications.save_failed", error=str(exc).splitlines()[0])
            self.error = "The database is unreachable; your preferences were not saved."
            return None
        self.error = ""
        return rx.toast.success("Your notification preferences are saved.")
