"""The signed-in person's own account actions."""

from __future__ import annotations

import asyncio

import reflex as rx

from opssight import db
from opssight.services import users
from opssight.state.session import protected, signed_in_user


def _sign_out_everywhere(user_id: int) -> None:
    with db.session_scope() as session:
        actor = users.get_user(session, user_id)
        users.sign_out_everywhere(session, actor=actor, user_id=user_id)


class AccountState(rx.State):
    @rx.event
    @protected(None)
    async def sign_out_everywhere(self):
        """End every session of mine (all browsers, open sockets included), then sign in again."""
        await asyncio.to_thread(_sign_out_everywhere, signed_in_user().id)
        return rx.redirect("/login")
