"""One chart style for every plotly figure: transparent, with colors readable in light and dark."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

INK = "#8b8d98"  # Radix gray 9: legible on white and on near-black
GRID = "rgba(139, 141, 152, 0.25)"


def styled(figure: go.Figure, **layout: Any) -> go.Figure:
    figure.update_layout(
        template="none",
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": INK},
        **layout,
    )
    figure.update_xaxes(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID)
    figure.update_yaxes(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID)
    figure.update_annotations(font_color=INK)
    return figure


Rows = tuple[tuple[tuple[str, str], ...], ...]


def frozen(rows: list[dict[str, str]]) -> Rows:
    """Table rows as a hashable key for an ``lru_cache``d figure builder: every tab showing the
    same rows then shares one figure per process, built once (plotly building and styling a
    figure per tab was half of the server's CPU per tab and event, bench/live_clients.py)."""
    return tuple(tuple(row.items()) for row in rows)


def thawed(rows: Rows) -> list[dict[str, str]]:
    return [dict(row) for row in rows]
