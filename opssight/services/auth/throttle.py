"""Failed local sign-ins counted per account and per IP over a sliding window (in the database,
so every worker sees the same counts)."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, select

from opssight.models import LoginFailure
from opssight.models.base import utcnow

WINDOW = timedelta(minutes=15)
PER_ACCOUNT = 5
PER_IP = 20


def retry_after(session: Session, *, login: str, ip: str) -> int | None:
    """Seconds until another attempt is allowed; None when one is allowed now."""
    since = utcnow() - WINDOW
    waits = []
    for column, value, limit in (
        (LoginFailure.login, login, PER_ACCOUNT),
        (LoginFailure.ip, ip, PER_IP),
    ):
        count = session.exec(
            select(func.count()).where(column == value, LoginFailure.at > since)
        ).one()
        if count >= limit:
            # allowed again when the limit-th most recent failure leaves the window
            recent = session.exec(
                select(LoginFailure.at)
                .where(column == value, LoginFailure.at > since)
                .order_by(LoginFailure.at.desc())
                .offset(limit - 1)
                .limit(1)
            ).one()
            waits.append((recent + WINDOW - utcnow()).total_seconds())
    return max(1, math.ceil(max(waits))) if waits else None


def record_failure(session: Session, *, login: str, ip: str) -> None:
    session.exec(delete(LoginFailure).where(LoginFailure.at <= utcnow() - WINDOW))
    session.add(LoginFailure(login=login, ip=ip))
    session.commit()


def clear(session: Session, *, login: str) -> None:
    """A successful sign-in forgives the account's failures (not the IP's)."""
    session.exec(delete(LoginFailure).where(LoginFailure.login == login))
    session.commit()
