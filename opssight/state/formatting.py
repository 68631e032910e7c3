"""How figures read on every page: durations, moments, percentages."""

from __future__ import annotations

from datetime import UTC, datetime


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


def ago(moment: datetime | None) -> str:
    """How long ago, in the largest whole unit: "45s", "12m", "3h", "5d"."""
    if moment is None:
        return "—"
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cores(millicores: int) -> str:
    return f"{millicores}m" if millicores < 1000 else f"{millicores / 1000:.1f} cores"


def bytes_iec(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
