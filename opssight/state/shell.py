"""What every page's shell shows: who is signed in (or that this is a demo guest), and the gate
that sends a visitor without a session to the sign-in page."""

from __future__ import annotations

import reflex as rx

from opssight.services import source_config
from opssight.services.auth.rbac import permissions_for
from opssight.state.session import principal, sign_in_url


class ShellState(rx.State):
    signed_in: bool = False
    guest: bool = False
    login: str = ""
    name: str = ""
    avatar_url: str = ""
    role: str = ""
    is_admin: bool = False
    local_password: bool = False  # the account has an OpsSight password (GitHub-only ones don't)
    demo: bool = False

    @rx.event
    async def load(self):
        """Runs first on every page: no caller (demo off, no session) goes to sign in."""
        who = await principal(self)
        self.demo = (await source_config.current_async()).demo
        user = who.user if who else None
        self.signed_in, self.guest = user is not None, who is not None and user is None
        self.login = user.login if user else ""
        self.name = (user.name or user.login) if user else ""
        self.avatar_url = (user.avatar_url or "") if user else ""
        self.role = user.role if user else ""
        self.is_admin = user is not None and "admin" in permissions_for(user.role)
        self.local_password = user is not None and user.password_hash is not None
        if who is None:
            return rx.redirect(sign_in_url(self))
        return None
