"""A signed-in person's saved theme."""

from __future__ import annotations

from sqlmodel import Session

from opssight.models import User
from opssight.schemas.theme import ThemePreference
from opssight.services import audit


def theme_of(user: User) -> ThemePreference:
    return ThemePreference(variant=user.theme_variant, mode=user.color_mode, hue=user.accent_hue)


def save_theme(session: Session, *, user: User, preference: ThemePreference) -> bool:
    """Store the choice on the user row (audited); False when nothing changed."""
    before = theme_of(user)
    if before == preference:
        return False
    user.theme_variant = preference.variant
    user.color_mode = preference.mode
    user.accent_hue = preference.hue
    session.add(user)
    audit.record(
        session,
        actor=user,
        action="user.theme",
        target_type="user",
        target_id=str(user.id),
        before=before.model_dump(),
        after=preference.model_dump(),
    )
    session.commit()
    return True
