"""Alerts page sections: filters, current alerts, rules with their form, per-rule figures and
the history of state changes."""

from __future__ import annotations

import reflex as rx

from opssight.components.cards import panel
from opssight.components.status import status_badge
from opssight.components.tables import rows_table
from opssight.services.alerting.queries import SEVERITIES, SOURCES
from opssight.services.alerting.silences import DURATIONS_HOURS
from opssight.state.alerts import STATES
from opssight.state.alerts import AlertsState as A
from opssight.state.inputs import ALL


def _choice(options: list[str], value, on_change, label: str) -> rx.Component:
    return rx.select(
        [ALL, *options],
        value=rx.cond(value == "", ALL, value),
        on_change=on_change,  # the handlers read ALL (or anything unknown) as no filter
        aria_label=label,
    )


def alert_link(alert_id, name) -> rx.Component:
    """The alert's name, opening its history (``/alerts/<id>``)."""
    return rx.link(name, href="/alerts/" + alert_id, class_name="os-alert-link")


def filters() -> rx.Component:
    return rx.flex(
        _choice(STATES, A.state_filter, A.choose_state, "State"),
        _choice(list(SEVERITIES), A.severity_filter, A.choose_severity, "Severity"),
        _choice(list(SOURCES), A.source_filter, A.choose_source, "Source"),
        rx.cond(
            A.teams.length() > 0,
            rx.select(
                rx.Var.create([ALL]) + A.teams,
                value=rx.cond(A.team_filter == "", ALL, A.team_filter),
                on_change=A.choose_team,
                aria_label="Team",
            ),
        ),
        rx.debounce_input(
            rx.input(
                placeholder="Search name, label, annotation…",
                value=A.search,
                on_change=A.search_for,
                width="18em",
                aria_label="Search alerts",
                class_name="os-alert-search",
            ),
            debounce_timeout=300,
        ),
        gap="3",
        wrap="wrap",
        align="center",
    )


def current() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("Alerts", size="4", class_name="os-heading"),
            rx.cond(
                A.alerts.length() > 0,
                rows_table(
                    ["State", "Alert", "Severity", "Source", "Labels", "Value", "Since", "Ack", ""],
                    A.alerts,
                    lambda a: [
                        rx.table.cell(status_badge(a["tone"], a["state"])),
                        rx.table.cell(
                            rx.vstack(
                                rx.text(alert_link(a["id"], a["name"]), weight="medium", size="2"),
                                rx.text(a["summary"], size="1", color_scheme="gray"),
                                rx.link(
                                    "What changed before this?",
                                    href="/timeline?alert=" + a["id"],
                                    size="1",
                                    class_name="os-changed-before",
                                ),
                                rx.cond(
                                    a["error"] != "",
                                    rx.text(a["error"], size="1", color_scheme="red"),
                                ),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(a["severity"]),
                        rx.table.cell(a["source"]),
                        rx.table.cell(rx.text(a["labels"], size="1")),
                        rx.table.cell(a["value"]),
                        rx.table.cell(a["since"]),
                        rx.table.cell(
                            rx.cond(
                                a["ack"] != "",
                                rx.text(a["ack"], size="1"),
                                rx.cond(
                                    A.can_write & (a["can_ack"] != ""),
                                    rx.button(
                                        "Acknowledge",
                                        size="1",
                                        variant="soft",
                                        on_click=A.acknowledge(a["id"]),
                                        class_name="os-ack",
                                    ),
                                ),
                            )
                        ),
                        rx.table.cell(
                            rx.cond(
                                A.can_write & (a["can_ack"] != ""),
                                rx.vstack(
                                    *[
                                        rx.button(
                                            f"Silence {hours}h",
                                            size="1",
                                            variant="ghost",
                                            on_click=A.silence(a["id"], hours),
                                            class_name="os-silence",
                                        )
                                        for hours in DURATIONS_HOURS
                                    ],
                                    spacing="1",
                                    align="start",
                                ),
                            )
                        ),
                    ],
                    class_name="os-alert",
                ),
                rx.text(
                    rx.cond(A.loaded, "No alert matches.", "Loading…"),
                    color_scheme="gray",
                    size="2",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-alerts",
    )


def _rule_actions(r) -> rx.Component:
    return rx.cond(
        A.can_write & (r["editable"] != ""),
        rx.hstack(
            rx.switch(
                checked=r["enabled"] != "",
                on_change=lambda on: A.toggle_rule(r["id"], on),
                aria_label="Enabled",
            ),
            rx.button("Edit", size="1", variant="soft", on_click=A.edit_rule(r["id"])),
            rx.button(
                "Delete",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=A.delete_rule(r["id"]),
            ),
            align="center",
        ),
        rx.text(rx.cond(r["enabled"] != "", "enabled", "disabled"), size="1"),
    )


def rule_list() -> rx.Component:
    return panel(
        rx.vstack(
            rx.hstack(
                rx.heading("Rules", size="4", class_name="os-heading"),
                rx.spacer(),
                rx.cond(
                    A.can_write,
                    rx.button("New rule", size="2", on_click=A.new_rule, class_name="os-new-rule"),
                ),
                width="100%",
                align="center",
            ),
            rx.cond(
                A.rules.length() > 0,
                rows_table(
                    ["Rule", "Expression", "For", "Severity", "Source", "Health", ""],
                    A.rules,
                    lambda r: [
                        rx.table.cell(rx.text(r["name"], weight="medium", size="2")),
                        rx.table.cell(rx.code(r["expr"], size="1")),
                        rx.table.cell(r["for"]),
                        rx.table.cell(r["severity"]),
                        rx.table.cell(r["source"]),
                        rx.table.cell(
                            rx.vstack(
                                status_badge(r["tone"], r["health"]),
                                rx.text(r["error"], size="1", color_scheme="red"),
                                rx.text("evaluated ", r["evaluated"], size="1"),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(_rule_actions(r)),
                    ],
                    class_name="os-rule",
                ),
                rx.text("No rule yet.", color_scheme="gray", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-rules",
    )


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1", width="100%")


def rule_form() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(A.form_id == 0, "New rule", "Edit rule")),
            rx.vstack(
                _field(
                    "Name",
                    rx.input(
                        value=A.form_name,
                        on_change=lambda v: A.set_form_field("name", v),
                        aria_label="Rule name",
                    ),
                ),
                _field(
                    "PromQL expression (every series it returns is an alert)",
                    rx.text_area(
                        value=A.form_expr,
                        on_change=lambda v: A.set_form_field("expr", v),
                        aria_label="Expression",
                        font_family="monospace",
                    ),
                ),
                rx.hstack(
                    _field(
                        "For (30s, 5m, 1h)",
                        rx.input(
                            value=A.form_for,
                            on_change=lambda v: A.set_form_field("for", v),
                            aria_label="For",
                        ),
                    ),
                    _field(
                        "Severity",
                        rx.select(
                            list(SEVERITIES),
                            value=A.form_severity,
                            on_change=lambda v: A.set_form_field("severity", v),
                            aria_label="Severity of the rule",
                        ),
                    ),
                    _field(
                        "Empty answer",
                        rx.select(
                            ["Normal", "NoData"],
                            value=A.form_no_data,
                            on_change=lambda v: A.set_form_field("no_data", v),
                            aria_label="Empty answer",
                        ),
                    ),
                    width="100%",
                ),
                _field(
                    "Prometheus source (empty: the first)",
                    rx.input(
                        value=A.form_datasource,
                        on_change=lambda v: A.set_form_field("datasource", v),
                        aria_label="Source",
                    ),
                ),
                _field(
                    "Labels (name=value per line)",
                    rx.text_area(
                        value=A.form_labels,
                        on_change=lambda v: A.set_form_field("labels", v),
                        aria_label="Labels",
                    ),
                ),
                _field(
                    "Annotations ({{ $labels.name }} and {{ $value }} are filled in)",
                    rx.text_area(
                        value=A.form_annotations,
                        on_change=lambda v: A.set_form_field("annotations", v),
                        aria_label="Annotations",
                    ),
                ),
                rx.checkbox(
                    "Enabled",
                    checked=A.form_enabled,
                    on_change=lambda v: A.set_form_field("enabled", v),
                ),
                rx.cond(
                    A.form_error != "",
                    rx.callout(
                        A.form_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        class_name="os-rule-error",
                    ),
                ),
                rx.hstack(
                    rx.button("Cancel", variant="soft", color_scheme="gray", on_click=A.close_form),
                    rx.button("Save", on_click=A.save_rule, class_name="os-save-rule"),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
            ),
            max_width="40em",
        ),
        open=A.form_open,
        on_open_change=lambda _: A.close_form(),
    )


def silences() -> rx.Component:
    return rx.cond(
        A.silences.length() > 0,
        panel(
            rx.vstack(
                rx.heading("Silences", size="4", class_name="os-heading"),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ["Matchers", "Until", "By", "Comment", ""]
                            ]
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            A.silences,
                            lambda s: rx.table.row(
                                rx.table.cell(rx.text(s["matchers"], size="1")),
                                rx.table.cell(s["until"]),
                                rx.table.cell(s["by"]),
                                rx.table.cell(s["comment"]),
                                rx.table.cell(
                                    rx.cond(
                                        A.can_write,
                                        rx.button(
                                            "End",
                                            size="1",
                                            variant="soft",
                                            color_scheme="red",
                                            on_click=A.expire_silence(s["id"]),
                                        ),
                                    )
                                ),
                                class_name="os-silence-row",
                            ),
                        )
                    ),
                    width="100%",
                    size="1",
                ),
                spacing="3",
                width="100%",
            ),
        ),
    )


def figures() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("Rules over the last 7 days", size="4", class_name="os-heading"),
            rx.cond(
                A.figures.length() > 0,
                rows_table(
                    ["Rule", "Source", "Firings", "Flaps", "MTTA", "MTTR"],
                    A.figures,
                    lambda f: [
                        rx.table.cell(f["name"]),
                        rx.table.cell(f["source"]),
                        rx.table.cell(f["firings"]),
                        rx.table.cell(f["flaps"]),
                        rx.table.cell(f["mtta"]),
                        rx.table.cell(f["mttr"]),
                    ],
                    class_name="os-rule-figures",
                ),
                rx.text("Nothing fired in the last 7 days.", color_scheme="gray", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
    )


def history() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("History", size="4", class_name="os-heading"),
            rx.cond(
                A.history.length() > 0,
                rows_table(
                    ["When", "Alert", "Source", "Change", "Value"],
                    A.history,
                    lambda t: [
                        rx.table.cell(t["at"]),
                        rx.table.cell(alert_link(t["alert_id"], t["name"])),
                        rx.table.cell(t["source"]),
                        rx.table.cell(
                            rx.vstack(
                                status_badge(t["tone"], t["change"]),
                                rx.text(t["error"], size="1", color_scheme="red"),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(t["value"]),
                    ],
                    class_name="os-transition",
                ),
                rx.text("No state change yet.", color_scheme="gray", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
    )
