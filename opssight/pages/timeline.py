"""``/timeline``: one service's changes across sources in time order, and "what changed before
this?" around an alert or a Kubernetes problem."""

import reflex as rx

from opssight import routes
from opssight.state.timeline import TimelineState
from opssight.templates.shell import page
from opssight.views.timeline import anchor, entries, filters, services


@page(routes.TIMELINE, on_load=[TimelineState.load])
def timeline() -> rx.Component:
    return rx.vstack(
        rx.cond(
            TimelineState.error != "",
            rx.callout(TimelineState.error, icon="triangle-alert", color_scheme="red"),
        ),
        anchor(),
        filters(),
        entries(),
        services(),
        spacing="5",
        width="100%",
    )
