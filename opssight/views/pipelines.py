"""Pipelines sections: filters, runs table with pages, workflow stats and trends, flaky runs,
and the run detail with its job and step timeline."""

from __future__ import annotations

import plotly.graph_objects as go
import reflex as rx

from opssight.components.cards import panel
from opssight.components.status import demo_badge, status_badge
from opssight.state.inputs import ALL
from opssight.state.pipelines import PipelinesState

RUN_STATES = [ALL, "success", "failure", "cancelled", "in_progress", "queued"]


def _select(items, value, on_change, label: str) -> rx.Component:
    return rx.select(
        items, value=rx.cond(value == "", ALL, value), on_change=on_change, aria_label=label
    )


def filters() -> rx.Component:
    return rx.flex(
        rx.debounce_input(
            rx.input(
                placeholder="Search title, branch, actor, sha…",
                value=PipelinesState.search,
                on_change=PipelinesState.filter_search,
                width="18em",
                aria_label="Search runs",
                class_name="os-run-search",
            ),
            debounce_timeout=300,
        ),
        _select(
            rx.Var.create([ALL]) + PipelinesState.repos,
            PipelinesState.repo,
            PipelinesState.filter_repo,
            "Repository",
        ),
        rx.cond(
            PipelinesState.teams.length() > 0,
            _select(
                rx.Var.create([ALL]) + PipelinesState.teams,
                PipelinesState.team,
                PipelinesState.filter_team,
                "Team",
            ),
        ),
        _select(
            rx.Var.create([ALL]) + PipelinesState.workflows,
            PipelinesState.workflow,
            PipelinesState.filter_workflow,
            "Workflow",
        ),
        _select(RUN_STATES, PipelinesState.run_state, PipelinesState.filter_state, "Status"),
        rx.debounce_input(
            rx.input(
                placeholder="Branch",
                value=PipelinesState.branch,
                on_change=PipelinesState.filter_branch,
                width="10em",
                aria_label="Branch",
            ),
            debounce_timeout=300,
        ),
        rx.segmented_control.root(
            rx.segmented_control.item("7d", value="7"),
            rx.segmented_control.item("30d", value="30"),
            rx.segmented_control.item("90d", value="90"),
            value=PipelinesState.window,
            on_change=PipelinesState.choose_window,
            aria_label="Window",
        ),
        gap="3",
        wrap="wrap",
        align="center",
    )


def connector_panel() -> rx.Component:
    """GitHub connector: last and next sync, requests spent, 304 ratio, rate budget, last error."""
    connector = PipelinesState.connector
    return rx.cond(
        connector.contains("state"),
        panel(
            rx.vstack(
                rx.hstack(
                    rx.heading("GitHub connector", size="3", class_name="os-heading"),
                    status_badge(connector["state"]),
                    rx.cond(connector["demo"] != "", demo_badge()),
                    rx.text("checked ", connector["checked"], size="1", color_scheme="gray"),
                    align="center",
                    spacing="3",
                ),
                rx.flex(
                    rx.foreach(
                        PipelinesState.connector_facts,
                        lambda fact: rx.vstack(
                            rx.text(fact["label"], size="1", color_scheme="gray"),
                            rx.text(fact["value"], size="2", weight="medium"),
                            spacing="0",
                            class_name="os-connector-fact",
                        ),
                    ),
                    gap="5",
                    wrap="wrap",
                ),
                rx.cond(
                    connector["error"] != "",
                    rx.callout(
                        connector["error_at"] + ": " + connector["error"],
                        icon="triangle-alert",
                        color_scheme="red",
                        size="1",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            class_name="os-github-connector",
        ),
    )


def _run_row(run: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(run["repo"]),
        rx.table.cell(
            rx.vstack(
                rx.text(run["workflow"], weight="medium"),
                rx.text(run["title"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(run["branch"]),
        rx.table.cell(run["event"]),
        rx.table.cell(run["actor"]),
        rx.table.cell(status_badge(run["state"])),
        rx.table.cell(run["queued"]),
        rx.table.cell(run["started"]),
        rx.table.cell(run["duration"]),
        rx.table.cell(run["attempt"]),
        on_click=PipelinesState.open_run(run["run_id"], run["attempt"]),
        class_name="os-run-row",
        data_run=run["key"],
        style={"cursor": "pointer"},
    )


def runs_table() -> rx.Component:
    headers = [
        "Repository",
        "Workflow",
        "Branch",
        "Event",
        "Actor",
        "Status",
        "Queued",
        "Started",
        "Duration",
        "Attempt",
    ]
    return panel(
        rx.vstack(
            rx.cond(
                PipelinesState.total > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(*[rx.table.column_header_cell(h) for h in headers])
                    ),
                    rx.table.body(rx.foreach(PipelinesState.runs, _run_row)),
                    width="100%",
                    size="1",
                    class_name="os-runs",
                ),
                rx.text(
                    rx.cond(PipelinesState.loaded, "No run matches these filters.", "Loading…"),
                    color_scheme="gray",
                ),
            ),
            rx.hstack(
                rx.text(
                    PipelinesState.total,
                    " runs · page ",
                    PipelinesState.page,
                    " of ",
                    PipelinesState.pages,
                    size="2",
                    class_name="os-runs-count",
                ),
                rx.spacer(),
                rx.button(
                    "Previous",
                    variant="soft",
                    on_click=PipelinesState.go_to_page(-1),
                    disabled=PipelinesState.page <= 1,
                ),
                rx.button(
                    "Next",
                    variant="soft",
                    on_click=PipelinesState.go_to_page(1),
                    disabled=PipelinesState.page >= PipelinesState.pages,
                ),
                width="100%",
                align="center",
            ),
            spacing="3",
            width="100%",
        )
    )


def workflow_stats() -> rx.Component:
    headers = ["Repository", "Workflow", "Runs", "Success", "p50", "p95", "Queue p50"]
    keys = ["repo", "workflow", "runs", "success", "p50", "p95", "queue"]
    return panel(
        rx.vstack(
            rx.heading("Workflows", size="4", class_name="os-heading"),
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
                rx.table.body(
                    rx.foreach(
                        PipelinesState.stats,
                        lambda s: rx.table.row(*[rx.table.cell(s[k]) for k in keys]),
                    )
                ),
                width="100%",
                size="1",
                class_name="os-workflow-stats",
            ),
            rx.plotly(
                data=PipelinesState.trend_figure.to(go.Figure), width="100%", class_name="os-trend"
            ),
            spacing="3",
            width="100%",
        )
    )


def flaky_runs() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("Flaky runs", size="4", class_name="os-heading"),
            rx.text(
                "Failed, then passed on a re-run of the same commit.", size="2", color_scheme="gray"
            ),
            rx.cond(
                PipelinesState.flaky.length() > 0,
                rx.vstack(
                    rx.foreach(
                        PipelinesState.flaky,
                        lambda f: rx.hstack(
                            rx.badge(f["workflow"]),
                            rx.text(f["repo"], size="2"),
                            rx.code(f["sha"]),
                            rx.text(f["attempts"], size="2"),
                            rx.text(f["passed"], size="1", color_scheme="gray"),
                            class_name="os-flaky",
                            align="center",
                        ),
                    ),
                    spacing="2",
                ),
                rx.text("None in this window.", size="2"),
            ),
            spacing="2",
            width="100%",
        )
    )


def run_detail() -> rx.Component:
    run = PipelinesState.selected
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(run["workflow"], " #", run["run_id"], " attempt ", run["attempt"]),
            rx.dialog.description(
                run["repo"],
                " · ",
                run["branch"],
                " · ",
                run["sha"],
                " · ",
                run["event"],
                " by ",
                run["actor"],
            ),
            rx.hstack(
                status_badge(run["state"]),
                rx.text(
                    "queued ",
                    run["queued"],
                    " · ran ",
                    run["duration"],
                    " · waited ",
                    run["queue"],
                    size="2",
                ),
                rx.cond(
                    run["url"] != "",
                    rx.link("Open on GitHub", href=run["url"], is_external=True, size="2"),
                ),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            rx.cond(
                PipelinesState.jobs.length() > 0,
                rx.vstack(
                    rx.plotly(
                        data=PipelinesState.timeline_figure.to(go.Figure),
                        width="100%",
                        class_name="os-timeline",
                    ),
                    rx.foreach(
                        PipelinesState.jobs,
                        lambda j: rx.hstack(
                            status_badge(j["state"]),
                            rx.text(j["name"], weight="medium"),
                            rx.text(j["duration"], size="2"),
                            rx.text(j["runner"], size="1", color_scheme="gray"),
                            class_name="os-job",
                            align="center",
                        ),
                    ),
                    spacing="2",
                    width="100%",
                ),
                rx.text("No job has been reported for this attempt yet.", size="2"),
            ),
            rx.dialog.close(rx.button("Close", variant="soft", on_click=PipelinesState.close_run)),
            max_width="960px",
            class_name="os-run-detail",
        ),
        open=PipelinesState.selected.contains("workflow"),
        on_open_change=lambda _open: PipelinesState.close_run(),
    )
