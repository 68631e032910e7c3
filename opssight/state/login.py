"""The sign-in page: which ways to sign in exist, and why the last attempt failed."""

from __future__ import annotations

import asyncio

import reflex as rx

from opssight import db
from opssight.config import get_settings
from opssight.services import source_config
from opssight.services.auth import first_admin
from opssight.services.auth.navigation import MESSAGES, safe_next
from opssight.state.session import current_user


def _first_start_hint() -> str:
    """Where the generated admin password is, until that admin first signs in."""
    settings = get_settings()
    if settings.admin_password is not None:
        return ""
    with db.read_session_scope() as session:
        path = first_admin.unclaimed_file(
            session, login=settings.admin_login, data_dir=settings.data_dir
        )
    if path is None:
        return ""
    return (
        f"First start: sign in as {settings.admin_login} with the password OpsSight printed "
        f"when it started, also saved in {path}."
    )


class LoginState(rx.State):
    error: str = ""
    next_path: str = "/"
    github: bool = False
    demo: bool = False
    first_start_hint: str = ""

    @rx.event
    async def load(self):
        """Public: a visitor already signed in goes straight on."""
        params = self.router.url.query_parameters
        self.next_path = safe_next(str(params.get("next", "/")))
        self.error = MESSAGES.get(str(params.get("error", "")), "")
        settings = get_settings()
        self.github = settings.github_sign_in
        self.demo = (await source_config.current_async()).demo
        self.first_start_hint = await asyncio.to_thread(_first_start_hint)
        if not self.error and await current_user(self) is not None:
            return rx.redirect(self.next_path)
        return None
