"""``/metrics-explorer``: PromQL explorer and the Metrics dashboard, live."""

import reflex as rx

from opssight import routes
from opssight.state.metrics import MetricsState
from opssight.templates.shell import page
from opssight.views.metrics import dashboard, editor, golden, history, result


@page(routes.METRICS, on_load=[MetricsState.load])
def metrics() -> rx.Component:
    return rx.vstack(
        rx.grid(
            rx.vstack(editor(), result(), golden(), spacing="4", width="100%"),
            history(),
            columns=rx.breakpoints(initial="1", lg="3fr 1fr"),
            spacing="4",
            width="100%",
        ),
        dashboard(),
        spacing="5",
        width="100%",
    )
