"""``/``: connector status and stored-object counts, live."""

import reflex as rx

from opssight import routes
from opssight.state.overview import OverviewState
from opssight.state.setup import SetupState
from opssight.templates.shell import page
from opssight.views.connections import setup_checklist
from opssight.views.overview import (
    alerts_card,
    automation_card,
    connector_cards,
    demo_notice,
    pipelines_card,
    stored_counts,
)


@page(routes.OVERVIEW, on_load=[OverviewState.load, SetupState.load])
def overview() -> rx.Component:
    return rx.vstack(
        demo_notice(),
        setup_checklist(),
        rx.cond(
            OverviewState.error != "",
            rx.callout(OverviewState.error, icon="triangle-alert", color_scheme="red"),
        ),
        connector_cards(),
        pipelines_card(),
        alerts_card(),
        automation_card(),
        stored_counts(),
        spacing="6",
        width="100%",
    )
