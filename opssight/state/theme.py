"""Theme variant, color mode and accent hue: local storage always, the user row when signed in."""

from __future__ import annotations

import asyncio

import reflex as rx
import structlog
from pydantic import ValidationError

from opssight import db
from opssight.models import User
from opssight.schemas.theme import ThemePreference
from opssight.services import preferences
from opssight.state.inputs import single
from opssight.state.session import current_user

log = structlog.get_logger(__name__)

# variant -> (accent, gray, radius, scaling); the stylesheet keyed on data-variant does the rest.
RADIX_PROPS: dict[str, tuple[str, str, str, str]] = {
    "minimal": ("indigo", "slate", "medium", "100%"),
    "neo-brutalist": ("amber", "gray", "none", "100%"),
    "glassmorphic": ("cyan", "slate", "large", "100%"),
    "cyberpunk": ("cyan", "slate", "none", "100%"),
    "editorial": ("ruby", "sand", "small", "100%"),
    "accessible": ("blue", "gray", "small", "110%"),
    "dynamic": ("iris", "slate", "medium", "100%"),
}


def _save(user_id: int, preference: ThemePreference) -> None:
    with db.session_scope() as session:
        user = session.get(User, user_id)
        if user is not None:
            preferences.save_theme(session, user=user, preference=preference)


class ThemeState(rx.State):
    variant: str = rx.LocalStorage("minimal", name="opssight_variant")
    mode: str = rx.LocalStorage("system", name="opssight_mode")
    hue: str = rx.LocalStorage("210", name="opssight_hue")

    def _preference(self) -> ThemePreference:
        try:
            return ThemePreference(variant=self.variant, mode=self.mode, hue=int(self.hue))
        except (ValidationError, ValueError):
            return ThemePreference()

    @rx.var(deps=["variant", "mode", "hue"], auto_deps=False)
    def mode_class(self) -> str:
        """Radix appearance class of the color mode; ``system`` inherits the OS preference.

        (Reflex drops a nested ``rx.theme``'s ``appearance`` prop, so the class is set directly.)
        """
        mode = self._preference().mode
        return {"light": "light", "dark": "dark", "high-contrast": "dark"}.get(mode, "")

    @rx.var(deps=["variant", "mode", "hue"], auto_deps=False)
    def root_class(self) -> str:
        """The page root's classes: the mode's appearance, except that cyberpunk is always dark."""
        chosen = self._preference()
        appearance = "dark" if chosen.variant == "cyberpunk" else self.mode_class
        return f"os-root {appearance}".strip()

    @rx.var(deps=["variant", "mode", "hue"], auto_deps=False)
    def accent(self) -> str:
        return RADIX_PROPS[self._preference().variant][0]

    @rx.var(deps=["variant", "mode", "hue"], auto_deps=False)
    def gray(self) -> str:
        return RADIX_PROPS[self._preference().variant][1]

    @rx.var(deps=["variant", "mode", "hue"], auto_deps=False)
    def radius(self) -> str:
        return RADIX_PROPS[self._preference().variant][2]

    @rx.var(deps=["variant", "mode", "hue"], auto_deps=False)
    def scaling(self) -> str:
        return RADIX_PROPS[self._preference().variant][3]

    @rx.var(deps=["variant", "mode", "hue"], auto_deps=False)
    def hue_value(self) -> int:
        return self._preference().hue

    @rx.var(deps=["variant", "mode", "hue"], auto_deps=False)
    def hue_css(self) -> str:
        return str(self._preference().hue)

    @rx.event
    async def sync(self) -> None:
        """On load: a signed-in person's saved theme wins over this browser's."""
        user = await current_user(self)
        if user is not None:
            saved = preferences.theme_of(user)
            self.variant, self.mode, self.hue = saved.variant, saved.mode, str(saved.hue)

    @rx.event
    async def choose_variant(self, variant: str) -> None:
        await self._apply(variant=variant)

    @rx.event
    async def choose_mode(self, mode: str | list[str]) -> None:
        await self._apply(mode=single(mode))

    @rx.event
    async def choose_hue(self, value: list[int | float]) -> None:
        await self._apply(hue=int(value[0]) if value else 210)

    async def _apply(self, **change: str | int) -> None:
        try:
            chosen = self._preference().model_copy(update=change)
            chosen = ThemePreference.model_validate(chosen.model_dump())
        except ValidationError:
            log.info("theme.rejected", change=change)
            return
        self.variant, self.mode, self.hue = chosen.variant, chosen.mode, str(chosen.hue)
        user = await current_user(self)
        if user is not None:
            await asyncio.to_thread(_save, user.id, chosen)
