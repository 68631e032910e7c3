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
