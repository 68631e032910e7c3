"""The signed-in person's own account actions."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx
import structlog
from sqlalchemy.exc import SQLAlchemyError

from opssight import db
from opssight.services import users
from opssight.services.auth import password_change, sessions
from opssight.services.auth.passwords import PasswordRefused
from opssight.state.session import protected, session_token, signed_in_user

log = structlog.get_logger(__name__)

# the password form's inputs: their ids, and the form fields they submit (dashes -> underscores)
PASSWORD_INPUTS = ("current-password", "new-password", "confirm-password")


def _sign_out_everywhere(user_id: int) -> None:
    with db.session_scope() as session:
        actor = users.get_user(session, user_id)
        users.sign_out_everywhere(session, actor=actor, user_id=user_id)


def _change_password(user_id: int, current: str, new: str, keep_session: str, ip: str) -> int:
    with db.session_scope() as session:
        return password_change.change(
            session, user_id=user_id, current=current, new=new, keep_session=keep_session, ip=ip
        )


def _ended(count: int) -> str:
    if count == 0:
        return "No other session was open."
    if count == 1:
        return "Your other session was signed out."
    return f"Your {count} other sessions were signed out."


class AccountState(rx.State):
    password_error: str = ""

    @rx.event
    @protected(None)
    async def sign_out_everywhere(self):
        """End every session of mine (all browsers, open sockets included), then sign in again."""
        await asyncio.to_thread(_sign_out_everywhere, signed_in_user().id)
        return rx.redirect("/login")

    @rx.event
    def clear_password_error(self) -> None:
        """The password page opens without an earlier attempt's error."""
        self.password_error = ""

    @rx.event
    @protected(None)
    async def change_password(self, form: dict[str, Any]):
        """My local password: the current one, the new one twice. This browser stays signed in;
        my other sessions end."""
        current, new, confirm = (
            str(form.get(name.replace("-", "_"), "")) for name in PASSWORD_INPUTS
        )
        if new != confirm:
            self.password_error = "The new password and its confirmation differ."
            return None
        claims = sessions.claims_of(session_token(self) or "") or {}
        keep, ip = str(claims.get("sid", "")), self.router.session.client_ip or "unknown"
        try:
            ended = await asyncio.to_thread(
                _change_password, signed_in_user().id, current, new, keep, ip
            )
        except PasswordRefused as exc:
            self.password_error = str(exc)
            return None
        except SQLAlchemyError as exc:
            log.error("account.password_change_failed", error=str(exc).splitlines()[0])
            self.password_error = "The database is unreachable; your password was not changed."
            return None
        self.password_error = ""
        return [
            *(rx.set_value(input_id, "") for input_id in PASSWORD_INPUTS),
            rx.toast.success(f"Password changed. {_ended(ended)}"),
        ]
