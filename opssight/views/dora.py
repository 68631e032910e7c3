"""DORA sections: scope controls, the four key cards with levels, weekly trends, drill-down."""

from __future__ import annotations

import plotly.graph_objects as go
import reflex as rx

from opssight.components.cards import panel
from opssight.state.dora import DoraState
from opssight.state.inputs import ALL

LEVEL_COLORS = rx.Var.create({"elite": "green", "high": "teal", "medium": "amber", "low": "red"})
LIST_TITLES = {
    "deployments": "Deployments",
    "pulls": "Pull requests shipped",
    "incidents": "Incidents",
}


def controls() -> rx.Component:
    return rx.flex(
        rx.segmented_control.root(
            rx.segmented_control.item("30 days", value="30"),
            rx.segmented_control.item("90 days", value="90"),
            rx.segmented_control.item("180 days", value="180"),
            value=DoraState.window,
            on_change=DoraState.choose_window,
        ),
        rx.select(
            rx.Var.create([ALL]) + DoraState.repos,
            value=rx.cond(DoraState.repo == "", ALL, DoraState.repo),
            on_change=DoraState.choose_repo,
        ),
        rx.cond(
            DoraState.teams.length() > 0,
            rx.select(
                rx.Var.create([ALL]) + DoraState.teams,
                value=rx.cond(DoraState.team == "", ALL, DoraState.team),
                on_change=DoraState.choose_team,
                aria_label="Team",
            ),
        ),
        gap="3",
        wrap="wrap",
        align="center",
    )


def _card(card: rx.Var[dict[str, str]]) -> rx.Component:
    return panel(
        rx.vstack(
            rx.hstack(
                rx.text(card["title"], size="2", weight="medium"),
                rx.spacer(),
                rx.cond(
                    card["level"] != "",
                    rx.badge(
                        card["level"],
                        color_scheme=LEVEL_COLORS[card["level"]],
                        class_name="os-dora-level",
                    ),
                ),
                width="100%",
            ),
            rx.hstack(
                rx.heading(card["value"], size="8", class_name="os-dora-value"),
                rx.text(card["unit"], size="2", color_scheme="gray"),
                align="baseline",
                spacing="2",
            ),
            rx.cond(card["reason"] != "", rx.text(card["reason"], size="1", color_scheme="gray")),
            rx.link(
                card["count"],
                on_click=DoraState.open_rows(card["key"]),
                size="2",
                class_name="os-dora-rows",
                href="#",
            ),
            spacing="2",
            align="start",
        ),
        class_name="os-dora-card",
        data_metric=card["title"],
    )


def key_cards() -> rx.Component:
    return rx.grid(
        rx.foreach(DoraState.cards, _card),
        columns=rx.breakpoints(initial="1", sm="2", lg="4"),
        spacing="4",
        width="100%",
    )


def trends() -> rx.Component:
    return panel(
        rx.heading("Weekly trends", size="4", class_name="os-heading"),
        rx.plotly(data=DoraState.trend_figure.to(go.Figure), width="100%"),
        width="100%",
    )


def rows_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.match(DoraState.drill, *LIST_TITLES.items(), "")),
            rx.dialog.description("The rows this figure was computed from.", size="2"),
            rx.cond(
                DoraState.rows.length() > 0,
                rx.table.root(
                    rx.table.body(
                        rx.foreach(
                            DoraState.rows,
                            lambda r: rx.table.row(
                                *[
                                    rx.table.cell(r[k])
                                    for k in ("repo", "when", "what", "sha", "extra")
                                ],
                                class_name="os-dora-row",
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                ),
                rx.text("None in this window.", size="2"),
            ),
            rx.dialog.close(rx.button("Close", variant="soft", on_click=DoraState.close_rows)),
            max_width="1000px",
            class_name="os-dora-list",
        ),
        open=DoraState.drill != "",
        on_open_change=lambda _open: DoraState.close_rows(),
    )
