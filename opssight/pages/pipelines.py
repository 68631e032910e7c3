"""``/pipelines``: GitHub Actions runs, live."""

import reflex as rx

from opssight import routes
from opssight.state.pipelines import PipelinesState
from opssight.templates.shell import page
from opssight.views.pipelines import (
    connector_panel,
    filters,
    flaky_runs,
    run_detail,
    runs_table,
    workflow_stats,
)


@page(routes.PIPELINES, on_load=[PipelinesState.load])
def pipelines() -> rx.Component:
    return rx.vstack(
        rx.cond(
            PipelinesState.error != "",
            rx.callout(PipelinesState.error, icon="triangle-alert", color_scheme="red"),
        ),
        connector_panel(),
        filters(),
        runs_table(),
        rx.grid(
            workflow_stats(),
            flaky_runs(),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="4",
            width="100%",
        ),
        run_detail(),
        spacing="5",
        width="100%",
    )
