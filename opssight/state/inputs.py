"""Normalising what UI controls send (a forged event may send anything)."""

from __future__ import annotations

ALL = "all"  # the select item meaning "no filter" (Radix selects cannot hold "")


def single(value: str | list[str]) -> str:
    """A segmented control sends a string, or a list when it allows several."""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value)
