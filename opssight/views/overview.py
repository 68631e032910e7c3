"""Overview sections: connector status cards and stored-object counts."""

from __future__ import annotations

import reflex as rx

from opssight.components.cards import panel, stat_card
from opssight.components.status import demo_badge, status_badge
from opssight.state.overview import OverviewState


def _connector_card(connector: rx.Var[dict[str, str]]) -> rx.Component:
    return panel(
        rx.vstack(
            rx.hstack(
                rx.heading(connector["name"], size="3", class_name="os-heading"),
                rx.spacer(),
                rx.cond(connector["demo"] != "", demo_badge()),
                status_badge(connector["state"]),
                width="100%",
                align="center",
            ),
            rx.text(connector["kind"], size="1", color_scheme="gray"),
            rx.text(connector["detail"], size="2", class_name="os-connector-detail"),
            rx.hstack(
                rx.text("checked ", connector["checked"], size="1", color_scheme="gray"),
                rx.cond(
                    connector["latency"] != "",
                    rx.text("· ", connector["latency"], size="1", color_scheme="gray"),
                ),
            ),
            rx.cond(
                connector["error"] != "",
                rx.callout(connector["error"], icon="triangle-alert", color_scheme="red", size="1"),
            ),
            spacing="2",
            align="start",
        ),
        class_name="os-connector",
        data_connector=connector["name"],
    )


def connector_cards() -> rx.Component:
    return rx.vstack(
        rx.heading("Connectors", size="4", class_name="os-heading"),
        rx.cond(
            OverviewState.connectors.length() > 0,
            rx.grid(
                rx.foreach(OverviewState.connectors, _connector_card),
                columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                spacing="4",
                width="100%",
            ),
            rx.text(
                rx.cond(OverviewState.loaded, "No connector has reported yet.", "Loading…"),
                color_scheme="gray",
            ),
        ),
        spacing="3",
        width="100%",
    )


def pipelines_card() -> rx.Component:
    card = OverviewState.pipelines
    return rx.vstack(
        rx.hstack(
            rx.heading("Pipelines · last 24 h", size="4", class_name="os-heading"),
            rx.link("All runs", href="/pipelines", size="2"),
            align="baseline",
            spacing="3",
        ),
        rx.grid(
            rx.box(stat_card("Runs", card["runs"]), data_count="runs-24h"),
            rx.box(stat_card("Running", card["running"]), data_count="running"),
            rx.box(stat_card("Failed", card["failed"]), data_count="failed-24h"),
            rx.box(stat_card("Success rate", card["success"]), data_count="success-24h"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="4",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def alerts_card() -> rx.Component:
    card = OverviewState.alerts
    return rx.vstack(
        rx.hstack(
            rx.heading("Alerts firing", size="4", class_name="os-heading"),
            rx.link("All alerts", href="/alerts", size="2"),
            align="baseline",
            spacing="3",
        ),
        rx.grid(
            rx.box(stat_card("Critical", card["critical"]), data_count="firing-critical"),
            rx.box(stat_card("Warning", card["warning"]), data_count="firing-warning"),
            rx.box(stat_card("Other", card["other"]), data_count="firing-other"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="4",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def automation_card() -> rx.Component:
    card = OverviewState.automation
    return rx.vstack(
        rx.hstack(
            rx.heading("Ansible · last 24 h", size="4", class_name="os-heading"),
            rx.link("All runs", href="/automation", size="2"),
            rx.link("Hosts", href="/automation/hosts", size="2"),
            align="baseline",
            spacing="3",
        ),
        rx.grid(
            rx.box(stat_card("Playbook runs", card["runs"]), data_count="ansible-runs-24h"),
            rx.box(stat_card("Running", card["running"]), data_count="ansible-running"),
            rx.box(stat_card("Failed", card["failed"]), data_count="ansible-failed-24h"),
            rx.box(stat_card("Hosts", card["hosts"]), data_count="ansible-hosts"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="4",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def stored_counts() -> rx.Component:
    return rx.vstack(
        rx.heading("Stored objects", size="4", class_name="os-heading"),
        rx.grid(
            rx.foreach(
                OverviewState.counts,
                lambda c: rx.box(stat_card(c["label"], c["count"]), data_count=c["label"]),
            ),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="4",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def demo_notice() -> rx.Component:
    return rx.cond(
        OverviewState.demo,
        rx.callout(
            "Demo data: recorded GitHub, Kubernetes, Prometheus, Alertmanager and Ansible "
            "payloads replayed through the same ingestion code as real sources. It goes once a "
            "real source is connected (Settings → Connections), or with OPSSIGHT_DEMO=0.",
            icon="flask-conical",
            color_scheme="violet",
            class_name="os-demo-notice",
        ),
    )
