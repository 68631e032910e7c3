"""What every page's shell shows: the signed-in person and whether data is demo data."""

from __future__ import annotations

import reflex as rx

from opssight.config import get_settings
from opssight.state.session import current_user


class ShellState(rx.State):
    signed_in: bool = False
    login: str = ""
    avatar_url: str = ""
    role: str = ""
    demo: bool = False

    @rx.event
    async def load(self) -> None:
        user = await current_user(self)
        self.signed_in = user is not None
        self.login = user.login if user else ""
        self.avatar_url = (user.avatar_url or "") if user else ""
        self.role = user.role if user else ""
        self.demo = get_settings().demo_enabled
