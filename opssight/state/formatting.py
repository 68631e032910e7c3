"""How figures read on every page: durations, moments, percentages."""

from __future__ import annotations

from datetime import datetime


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def when(moment: datetime | None) -> str:
    return moment.strftime("%b %d %H:%M") if moment else "—"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
