"""The sign-in page: which ways to sign in exist, and why the last attempt failed."""

from __future__ import annotations

import reflex as rx

from opssight.config import get_settings
from opssight.services import source_config
from opssight.services.auth.navigation import MESSAGES, safe_next
from opssight.state.session import current_user


class LoginState(rx.State):
    error: str = ""
    next_path: str = "/"
    github: bool = False
    demo: bool = False

    @rx.event
    async def load(self):
        """Public: a visitor already signed in goes straight on."""
        params = self.router.url.query_parameters
        self.next_path = safe_next(str(params.get("next", "/")))
        self.error = MESSAGES.get(str(params.get("error", "")), "")
        settings = get_settings()
        self.github = settings.github_sign_in
        self.demo = (await source_config.current_async()).demo
        if not self.error and await current_user(self) is not None:
            return rx.redirect(self.next_path)
        return None
