"""``/alerts/<id>`` sections: the alert (state, labels, annotations, acknowledgement) and its
state changes."""

from __future__ import annotations

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.components.status import status_badge
from opssight.components.tables import rows_table
from opssight.state.alert_detail import AlertDetailState as D


def _pairs(title: str, rows) -> rx.Component:
    return rx.vstack(
        rx.text(title, size="2", weight="medium"),
        rx.cond(
            rows.length() > 0,
            rx.flex(
                rx.foreach(
                    rows,
                    lambda p: rx.badge(p["name"], "=", p["value"], variant="surface", size="1"),
                ),
                gap="1",
                wrap="wrap",
            ),
            rx.text("none", size="1", color_scheme="gray"),
        ),
        spacing="1",
        width="100%",
    )


def summary() -> rx.Component:
    a = D.alert
    return panel(
        rx.vstack(
            rx.hstack(
                status_badge(a["tone"], a["state"]),
                rx.heading(a["name"], size="5", class_name="os-heading os-alert-name"),
                rx.spacer(),
                rx.link("← All alerts", href=routes.ALERTS.path, size="2"),
                width="100%",
                align="center",
            ),
            rx.text(a["summary"], size="2"),
            rx.cond(a["error"] != "", rx.text(a["error"], size="2", color_scheme="red")),
            rx.flex(
                rx.text("Severity: ", a["severity"], size="2"),
                rx.text("Source: ", a["source"], size="2"),
                rx.text("Value: ", rx.cond(a["value"] != "", a["value"], "—"), size="2"),
                rx.text("Last fired: ", a["fired"], size="2"),
                rx.text(
                    "Acknowledged: ",
                    rx.cond(a["ack"] != "", a["ack"], "no"),
                    size="2",
                    class_name="os-alert-ack",
                ),
                gap="5",
                wrap="wrap",
            ),
            _pairs("Labels", D.labels),
            _pairs("Annotations", D.annotations),
            rx.cond(
                a["generator"] != "",
                rx.link("Source graph", href=a["generator"], is_external=True, size="2"),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-alert-summary",
    )


def transitions() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("State changes", size="4", class_name="os-heading"),
            rx.cond(
                D.transitions.length() > 0,
                rows_table(
                    ["When (UTC)", "Change", "Value", "Error"],
                    D.transitions,
                    lambda t: [
                        rx.table.cell(t["at"]),
                        rx.table.cell(status_badge(t["tone"], t["change"])),
                        rx.table.cell(t["value"]),
                        rx.table.cell(rx.text(t["error"], size="1", color_scheme="red")),
                    ],
                    class_name="os-alert-transition",
                ),
                rx.text("No state change recorded.", color_scheme="gray", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
    )


def not_found() -> rx.Component:
    return rx.callout(
        rx.hstack(
            rx.text("No such alert."),
            rx.link("All alerts", href=routes.ALERTS.path),
        ),
        icon="info",
        class_name="os-alert-missing",
    )
