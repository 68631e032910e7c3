"""One leader per job across workers: a PostgreSQL advisory lock held while the job runs."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Connection, text

from opssight import db

RETRY_SECONDS = 5.0


def _try_lock(connection: Connection, key: int) -> bool:
    locked = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
    connection.commit()
    return bool(locked)


def _release(connection: Connection, key: int) -> None:
    try:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        connection.commit()
    finally:
        connection.close()


@asynccontextmanager
async def leadership(name: str) -> AsyncIterator[None]:
    """Wait until this process leads ``name`` (immediately on SQLite: one worker only)."""
    engine = db.get_engine()
    if engine.dialect.name != "postgresql":
        yield
        return
    key = zlib.crc32(name.encode())
    connection = await asyncio.to_thread(engine.connect)
    try:
        while not await asyncio.to_thread(_try_lock, connection, key):
            await asyncio.sleep(RETRY_SECONDS)
        yield
    finally:
        await asyncio.to_thread(_release, connection, key)
