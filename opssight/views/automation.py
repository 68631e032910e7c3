"""Automation sections: run filters, the runs table with its duration chart, a run's detail (its
task-by-host matrix, task durations, host recap and variables), and the hosts table."""

from __future__ import annotations

import plotly.graph_objects as go
import reflex as rx

from opssight.components.cards import panel
from opssight.components.status import status_badge
from opssight.components.tables import rows_table
from opssight.state.automation import STATUSES, AutomationHostsState, AutomationState
from opssight.state.inputs import ALL

A = AutomationState


def filters() -> rx.Component:
    return rx.flex(
        rx.debounce_input(
            rx.input(
                placeholder="Search playbook, play, user, controller…",
                value=A.search,
                on_change=A.search_for,
                width="20em",
                aria_label="Search runs",
            ),
            debounce_timeout=300,
        ),
        rx.select(
            STATUSES,
            value=rx.cond(A.status_filter == "", ALL, A.status_filter),
            on_change=A.choose_status,
            aria_label="Status",
        ),
        rx.link("Hosts", href="/automation/hosts", size="2", class_name="os-hosts-link"),
        gap="3",
        wrap="wrap",
        align="center",
    )


def runs() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("Playbook runs", size="4", class_name="os-heading"),
            rx.cond(
                A.durations.length() > 0,
                rx.plotly(
                    data=A.duration_figure.to(go.Figure),
                    width="100%",
                    class_name="os-run-durations",
                ),
            ),
            rx.cond(
                A.runs.length() > 0,
                rows_table(
                    ["Status", "Run", "Who", "Started", "Duration", "Hosts", ""],
                    A.runs,
                    lambda r: [
                        rx.table.cell(status_badge(r["tone"], r["status"])),
                        rx.table.cell(
                            rx.vstack(
                                rx.text(r["name"], weight="medium", size="2"),
                                rx.text(r["playbook"], size="1", color_scheme="gray"),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(
                            rx.hstack(
                                rx.text(r["who"], size="2"),
                                rx.cond(r["check"] != "", rx.badge(r["check"], variant="soft")),
                            )
                        ),
                        rx.table.cell(rx.text(r["started"], " (", r["ago"], " ago)", size="2")),
                        rx.table.cell(r["duration"]),
                        rx.table.cell(r["hosts"]),
                        rx.table.cell(
                            rx.button(
                                "Open",
                                size="1",
                                variant="soft",
                                on_click=A.open_run(r["id"]),
                                class_name="os-open-run",
                            )
                        ),
                    ],
                    class_name="os-automation-run",
                ),
                rx.text(
                    rx.cond(
                        A.loaded,
                        "No playbook run yet. Enable the callback on a control node: "
                        "export ANSIBLE_CALLBACK_PLUGINS=$(opssight ansible-callback-path)",
                        "Loading…",
                    ),
                    color_scheme="gray",
                    size="2",
                ),
            ),
            rx.hstack(
                rx.button(
                    "Previous",
                    size="1",
                    variant="soft",
                    on_click=A.go_to_page(-1),
                    disabled=A.page <= 1,
                ),
                rx.text("Page ", A.page, " of ", A.pages, " · ", A.total, " runs", size="2"),
                rx.button(
                    "Next",
                    size="1",
                    variant="soft",
                    on_click=A.go_to_page(1),
                    disabled=A.page >= A.pages,
                ),
                align="center",
                spacing="3",
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-automation-runs",
    )


def _matrix() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Task"),
                    rx.table.column_header_cell("Took"),
                    rx.foreach(A.hosts, lambda h: rx.table.column_header_cell(h)),
                )
            ),
            rx.table.body(
                rx.foreach(
                    A.tasks,
                    lambda t, i: rx.table.row(
                        rx.table.cell(
                            rx.vstack(
                                rx.hstack(
                                    status_badge(t["tone"], t["status"]),
                                    rx.text(t["name"], weight="medium", size="2"),
                                    rx.cond(t["handler"] != "", rx.badge("handler")),
                                    align="center",
                                    spacing="2",
                                ),
                                rx.text(
                                    t["action"], " · ", t["path"], size="1", color_scheme="gray"
                                ),
                                spacing="1",
                            )
                        ),
                        rx.table.cell(t["duration"]),
                        rx.foreach(
                            A.cells[i],
                            lambda c: rx.table.cell(
                                rx.cond(
                                    c["tone"] != "none",
                                    rx.tooltip(
                                        status_badge(c["tone"], c["status"]),
                                        content=rx.cond(
                                            c["message"] != "", c["message"], c["status"]
                                        ),
                                    ),
                                    rx.text("—", color_scheme="gray"),
                                ),
                                class_name="os-matrix-cell",
                                data_status=c["status"],
                            ),
                        ),
                        class_name="os-matrix-task",
                        data_status=t["status"],
                    ),
                )
            ),
            width="100%",
            size="1",
            class_name="os-matrix",
        ),
        overflow_x="auto",
        width="100%",
    )


def _messages() -> rx.Component:
    """The module messages of failed results, spelled out (the matrix shows them on hover)."""
    return rx.foreach(
        A.tasks,
        lambda t, i: rx.foreach(
            A.cells[i],
            lambda c, j: rx.cond(
                (c["tone"] == "down") & (c["message"] != ""),
                rx.callout(
                    rx.text(t["name"], " on ", A.hosts[j], ": ", c["message"], size="1"),
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    class_name="os-failure-message",
                ),
            ),
        ),
    )


def run_detail() -> rx.Component:
    run = A.run
    return rx.cond(
        run.contains("status"),
        panel(
            rx.vstack(
                rx.hstack(
                    rx.heading(run["name"], size="5", class_name="os-heading"),
                    status_badge(run["tone"], run["status"]),
                    rx.cond(run["check"] != "", rx.badge(run["check"], variant="soft")),
                    rx.spacer(),
                    rx.button("Close", size="1", variant="soft", on_click=A.close_run),
                    align="center",
                    width="100%",
                ),
                rx.text(
                    run["playbook"],
                    " · ",
                    run["who"],
                    " · Ansible ",
                    run["ansible"],
                    " · started ",
                    run["started"],
                    " · took ",
                    run["duration"],
                    " · ",
                    run["hosts"],
                    size="2",
                    color_scheme="gray",
                ),
                _matrix(),
                _messages(),
                rx.cond(
                    A.tasks.length() > 0,
                    rx.plotly(
                        data=A.task_figure.to(go.Figure),
                        width="100%",
                        class_name="os-task-durations",
                    ),
                ),
                rx.cond(
                    A.host_stats.length() > 0,
                    rows_table(
                        ["Host", "ok", "changed", "failed", "skipped", "unreachable", "Groups"],
                        A.host_stats,
                        lambda h: [
                            rx.table.cell(h[k])
                            for k in (
                                "host",
                                "ok",
                                "changed",
                                "failed",
                                "skipped",
                                "unreachable",
                                "groups",
                            )
                        ],
                        class_name="os-recap",
                    ),
                    rx.text("Running: the recap comes when the playbook ends.", size="2"),
                ),
                rx.cond(
                    A.variables.length() > 0,
                    rx.flex(
                        rx.foreach(
                            A.variables,
                            lambda v: rx.badge(v["name"], " = ", v["value"], variant="outline"),
                        ),
                        gap="2",
                        wrap="wrap",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            class_name="os-automation-detail",
        ),
        rx.cond(
            A.missing != "",
            rx.callout(
                "That run is not stored (the link may be to a run that was never received).",
                icon="info",
                class_name="os-run-missing",
            ),
        ),
    )


def hosts() -> rx.Component:
    H = AutomationHostsState
    return panel(
        rx.vstack(
            rx.hstack(
                rx.debounce_input(
                    rx.input(
                        placeholder="Search hosts…",
                        value=H.search,
                        on_change=H.search_for,
                        width="16em",
                        aria_label="Search hosts",
                    ),
                    debounce_timeout=300,
                ),
                rx.link("All runs", href="/automation", size="2"),
                align="center",
                spacing="3",
            ),
            rx.cond(
                H.hosts.length() > 0,
                rows_table(
                    ["Host", "Latest result", "Seen", "Counts", "Groups", ""],
                    H.hosts,
                    lambda h: [
                        rx.table.cell(rx.text(h["name"], weight="medium")),
                        rx.table.cell(status_badge(h["tone"], h["status"])),
                        rx.table.cell(rx.text(h["seen"], " (", h["ago"], " ago)", size="2")),
                        rx.table.cell(rx.text(h["counts"], size="1")),
                        rx.table.cell(rx.text(h["groups"], size="1")),
                        rx.table.cell(
                            rx.link("Latest run", href="/automation?run=" + h["run"], size="2")
                        ),
                    ],
                    class_name="os-automation-host",
                ),
                rx.text(
                    rx.cond(H.loaded, "No host has reported yet.", "Loading…"),
                    color_scheme="gray",
                    size="2",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-automation-hosts",
    )
