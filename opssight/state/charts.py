"""One chart style for every plotly figure: transparent, with colors readable in light and dark."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

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


def plotted(figure: go.Figure) -> dict[str, Any]:
    """The figure as the plotly JSON the browser gets: what a figure var returns (the view casts
    it with ``.to(go.Figure)`` for ``rx.plotly``). Reflex stores a computed var's value with each
    tab's state and loads it on every refresh; a ``go.Figure`` unpickles by re-validating every
    property (1-2 ms per figure, tab and event: half of a worker's CPU with 50 tabs,
    bench/live_clients.py), its JSON in microseconds. Shared by the tabs: never changed."""
    return json.loads(pio.to_json(figure))


Rows = tuple[tuple[tuple[str, str], ...], ...]


def frozen(rows: list[dict[str, str]]) -> Rows:
    """Table rows as a hashable key for an ``lru_cache``d figure builder: every tab showing the
    same rows then shares one figure per process, built once (plotly building and styling a
    figure per tab was half of the server's CPU per tab and event, bench/live_clients.py)."""
    return tuple(tuple(row.items()) for row in rows)


def thawed(rows: Rows) -> list[dict[str, str]]:
    return [dict(row) for row in rows]
