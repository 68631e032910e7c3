"""Metrics sections: the PromQL editor with its history, the result (chart or raw table), the
golden-signal suggestions and the dashboard of saved panels."""

from __future__ import annotations

import plotly.graph_objects as go
import reflex as rx

from opssight.components.cards import panel
from opssight.components.status import demo_badge
from opssight.services.metrics import CHART_TYPES, RANGES
from opssight.state.metrics import PRESETS, MetricsState


def _controls() -> rx.Component:
    return rx.flex(
        rx.select(
            MetricsState.sources,
            value=MetricsState.source,
            on_change=MetricsState.choose_source,
            aria_label="Source",
        ),
        rx.cond(MetricsState.demo, demo_badge()),
        rx.segmented_control.root(
            rx.segmented_control.item("Instant", value="instant"),
            rx.segmented_control.item("Range", value="range"),
            value=MetricsState.mode,
            on_change=MetricsState.choose_mode,
            aria_label="Query type",
        ),
        rx.cond(
            MetricsState.mode == "range",
            rx.flex(
                rx.segmented_control.root(
                    *[rx.segmented_control.item(p, value=p) for p in PRESETS],
                    value=MetricsState.preset,
                    on_change=MetricsState.choose_preset,
                    aria_label="Time range",
                ),
                rx.cond(
                    MetricsState.preset == "custom",
                    rx.flex(
                        rx.input(
                            type="datetime-local",
                            value=MetricsState.start,
                            on_change=lambda v: MetricsState.set_range("start", v),
                            aria_label="Start (UTC)",
                        ),
                        rx.input(
                            type="datetime-local",
                            value=MetricsState.end,
                            on_change=lambda v: MetricsState.set_range("end", v),
                            aria_label="End (UTC)",
                        ),
                        rx.text("UTC", size="1", color_scheme="gray"),
                        gap="2",
                        align="center",
                    ),
                ),
                rx.debounce_input(
                    rx.input(
                        placeholder="step (s, auto)",
                        value=MetricsState.step,
                        on_change=lambda v: MetricsState.set_range("step", v),
                        width="9em",
                        aria_label="Step in seconds",
                    ),
                    debounce_timeout=300,
                ),
                gap="3",
                wrap="wrap",
                align="center",
            ),
        ),
        gap="3",
        wrap="wrap",
        align="center",
    )


def editor() -> rx.Component:
    """The PromQL editor; Prometheus's own error (or the unreachable source) shows beside it."""
    return panel(
        rx.vstack(
            _controls(),
            rx.debounce_input(
                rx.text_area(
                    value=MetricsState.promql,
                    on_change=MetricsState.edit_promql,
                    placeholder="PromQL, e.g. sum by (job) (rate(http_requests_total[5m]))",
                    rows="3",
                    width="100%",
                    font_family="monospace",
                    aria_label="PromQL",
                    class_name="os-promql",
                ),
                debounce_timeout=200,
            ),
            rx.hstack(
                rx.button(
                    rx.icon("play", size=16),
                    "Run query",
                    on_click=MetricsState.run,
                    loading=MetricsState.running,
                    disabled=~MetricsState.can_query,
                    class_name="os-run-query",
                ),
                rx.button(
                    "Golden signals",
                    variant="soft",
                    on_click=MetricsState.find_golden,
                    disabled=~MetricsState.can_query,
                ),
                rx.cond(
                    MetricsState.can_write,
                    rx.hstack(
                        rx.input(
                            placeholder="Panel title",
                            value=MetricsState.title,
                            on_change=MetricsState.edit_title,
                            width="14em",
                            aria_label="Panel title",
                        ),
                        rx.button(
                            "Save as panel", variant="outline", on_click=MetricsState.save_panel
                        ),
                        spacing="2",
                    ),
                ),
                spacing="3",
                wrap="wrap",
            ),
            rx.cond(
                MetricsState.loaded & ~MetricsState.can_query,
                rx.text(
                    "Running PromQL needs the metrics:view permission; "
                    "the saved panels below stay visible.",
                    size="1",
                    color_scheme="gray",
                    class_name="os-query-not-allowed",
                ),
            ),
            rx.cond(
                MetricsState.query_error != "",
                rx.callout(
                    MetricsState.query_error,
                    icon="circle-x",
                    color_scheme="red",
                    size="1",
                    class_name="os-query-error",
                ),
            ),
            rx.cond(
                MetricsState.down != "",
                rx.callout(
                    MetricsState.down,
                    icon="unplug",
                    color_scheme="orange",
                    size="1",
                    class_name="os-source-down",
                ),
            ),
            rx.cond(
                MetricsState.note != "",
                rx.callout(MetricsState.note, icon="info", size="1"),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-metrics-editor",
    )


def history() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("History", size="3", class_name="os-heading"),
            rx.cond(
                MetricsState.history.length() > 0,
                rx.vstack(
                    rx.foreach(
                        MetricsState.history,
                        lambda h: rx.box(
                            rx.code(h["promql"], size="1"),
                            rx.text(h["source"], " · ", h["at"], size="1", color_scheme="gray"),
                            on_click=MetricsState.pick_history(h["source"], h["promql"]),
                            style={"cursor": "pointer"},
                            class_name="os-history-item",
                        ),
                    ),
                    spacing="2",
                    width="100%",
                ),
                rx.text("Queries you run appear here.", size="2", color_scheme="gray"),
            ),
            spacing="3",
            width="100%",
        ),
    )


def _result_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[rx.table.column_header_cell(h) for h in ("Series", "Value", "At", "Points")]
            )
        ),
        rx.table.body(
            rx.foreach(
                MetricsState.rows,
                lambda r: rx.table.row(
                    rx.table.cell(rx.code(r["labels"], size="1")),
                    rx.table.cell(r["value"]),
                    rx.table.cell(r["at"]),
                    rx.table.cell(r["points"]),
                ),
            )
        ),
        size="1",
        width="100%",
        class_name="os-result-table",
    )


def result() -> rx.Component:
    return rx.cond(
        MetricsState.ran & (MetricsState.query_error == "") & (MetricsState.down == ""),
        panel(
            rx.vstack(
                rx.hstack(
                    rx.text(
                        MetricsState.rows.length(),
                        " series · ",
                        MetricsState.result_type,
                        rx.cond(
                            MetricsState.step_used != "", " · step " + MetricsState.step_used, ""
                        ),
                        size="2",
                        class_name="os-result-summary",
                    ),
                    rx.spacer(),
                    rx.segmented_control.root(
                        rx.segmented_control.item("Line", value="line"),
                        rx.segmented_control.item("Area", value="area"),
                        value=MetricsState.chart_type,
                        on_change=MetricsState.choose_chart,
                        aria_label="Chart type",
                    ),
                    rx.hstack(
                        rx.text("Table", size="2"),
                        rx.switch(
                            checked=MetricsState.table_view, on_change=MetricsState.show_table
                        ),
                        spacing="2",
                    ),
                    width="100%",
                    align="center",
                ),
                rx.cond(
                    MetricsState.table_view,
                    _result_table(),
                    rx.plotly(data=MetricsState.figure.to(go.Figure), width="100%"),
                ),
                spacing="3",
                width="100%",
            ),
            class_name="os-metrics-result",
        ),
    )


def golden() -> rx.Component:
    return rx.cond(
        MetricsState.golden.length() > 0,
        panel(
            rx.vstack(
                rx.heading("Golden signals found", size="3", class_name="os-heading"),
                rx.foreach(
                    MetricsState.golden,
                    lambda g: rx.hstack(
                        rx.badge(g["signal"]),
                        rx.code(g["promql"], size="1"),
                        rx.spacer(),
                        rx.button(
                            "Try",
                            size="1",
                            variant="soft",
                            on_click=MetricsState.pick_history(MetricsState.source, g["promql"]),
                        ),
                        rx.cond(
                            MetricsState.can_write,
                            rx.button(
                                "Add panel", size="1", on_click=MetricsState.add_golden(g["signal"])
                            ),
                        ),
                        width="100%",
                        align="center",
                    ),
                ),
                spacing="2",
                width="100%",
            ),
        ),
    )


def _panel(cells: rx.Var[dict[str, str]], index: rx.Var[int]) -> rx.Component:
    return panel(
        rx.vstack(
            rx.hstack(
                rx.heading(cells["title"], size="3", class_name="os-heading"),
                rx.cond(cells["demo"] != "", demo_badge()),
                rx.spacer(),
                rx.text(cells["source"], " · ", cells["range"], size="1", color_scheme="gray"),
                rx.cond(
                    MetricsState.can_write,
                    rx.hstack(
                        rx.icon_button(
                            rx.icon("arrow-up", size=14),
                            size="1",
                            variant="ghost",
                            on_click=MetricsState.move_panel(cells["id"], -1),
                            aria_label="Move up",
                        ),
                        rx.icon_button(
                            rx.icon("arrow-down", size=14),
                            size="1",
                            variant="ghost",
                            on_click=MetricsState.move_panel(cells["id"], 1),
                            aria_label="Move down",
                        ),
                        rx.icon_button(
                            rx.icon("pencil", size=14),
                            size="1",
                            variant="ghost",
                            on_click=MetricsState.edit_panel(cells["id"]),
                            aria_label="Edit panel",
                            class_name="os-edit-panel",
                        ),
                        rx.icon_button(
                            rx.icon("trash-2", size=14),
                            size="1",
                            variant="ghost",
                            color_scheme="red",
                            on_click=MetricsState.delete_panel(cells["id"]),
                            aria_label="Delete panel",
                        ),
                        spacing="2",
                    ),
                ),
                width="100%",
                align="center",
            ),
            rx.code(cells["promql"], size="1"),
            rx.cond(
                cells["error"] != "",
                rx.callout(cells["error"], icon="triangle-alert", color_scheme="red", size="1"),
                rx.plotly(data=MetricsState.panel_figures[index].to(go.Figure), width="100%"),
            ),
            spacing="2",
            width="100%",
        ),
        class_name="os-metric-panel",
        data_panel=cells["id"],
    )


def _panel_field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1", width="100%")


def panel_form() -> rx.Component:
    """Editing a saved panel: title, query, source, range and chart kind."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit panel"),
            rx.vstack(
                _panel_field(
                    "Title",
                    rx.input(
                        value=MetricsState.panel_form_title,
                        on_change=lambda v: MetricsState.set_panel_field("title", v),
                        aria_label="Title of the panel",
                    ),
                ),
                _panel_field(
                    "PromQL",
                    rx.text_area(
                        value=MetricsState.panel_form_promql,
                        on_change=lambda v: MetricsState.set_panel_field("promql", v),
                        aria_label="Panel PromQL",
                        font_family="monospace",
                    ),
                ),
                rx.hstack(
                    _panel_field(
                        "Source",
                        rx.select(
                            MetricsState.sources,
                            value=MetricsState.panel_form_source,
                            on_change=lambda v: MetricsState.set_panel_field("source", v),
                            custom_attrs={"aria-label": "Panel source"},
                        ),
                    ),
                    _panel_field(
                        "Range",
                        rx.select(
                            list(RANGES),
                            value=MetricsState.panel_form_range,
                            on_change=lambda v: MetricsState.set_panel_field("range", v),
                            custom_attrs={"aria-label": "Panel range"},
                        ),
                    ),
                    _panel_field(
                        "Chart",
                        rx.select(
                            list(CHART_TYPES),
                            value=MetricsState.panel_form_chart,
                            on_change=lambda v: MetricsState.set_panel_field("chart", v),
                            custom_attrs={"aria-label": "Panel chart"},
                        ),
                    ),
                    width="100%",
                ),
                rx.cond(
                    MetricsState.panel_form_error != "",
                    rx.callout(
                        MetricsState.panel_form_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        class_name="os-panel-error",
                    ),
                ),
                rx.hstack(
                    rx.button(
                        "Cancel",
                        variant="soft",
                        color_scheme="gray",
                        on_click=MetricsState.close_panel_form,
                    ),
                    rx.button(
                        "Save", on_click=MetricsState.save_panel_edit, class_name="os-save-panel"
                    ),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
            ),
            max_width="40em",
        ),
        open=MetricsState.panel_form_open,
        on_open_change=lambda _: MetricsState.close_panel_form(),
    )


def dashboard() -> rx.Component:
    return rx.vstack(
        rx.heading("Dashboard", size="4", class_name="os-heading"),
        panel_form(),
        rx.cond(
            MetricsState.panels.length() > 0,
            rx.grid(
                rx.foreach(MetricsState.panels, _panel),
                columns=rx.breakpoints(initial="1", lg="2"),
                spacing="4",
                width="100%",
            ),
            rx.text(
                "No saved panels yet: run a query and save it as a panel.",
                color_scheme="gray",
            ),
        ),
        spacing="3",
        width="100%",
    )
