"""People known to OpsSight."""

from __future__ import annotations

from sqlmodel import Session, select

from opssight.models import User


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.login)))
