"""``/alerts/<id>``: one alert's state-change history, live."""

import reflex as rx

from opssight import routes
from opssight.state.alert_detail import AlertDetailState
from opssight.templates.shell import page
from opssight.views.alert_detail import not_found, summary, transitions


@page(routes.ALERT, on_load=[AlertDetailState.load])
def alert() -> rx.Component:
    return rx.vstack(
        rx.cond(
            AlertDetailState.error != "",
            rx.callout(AlertDetailState.error, icon="triangle-alert", color_scheme="red"),
        ),
        rx.cond(
            AlertDetailState.loaded,
            rx.cond(AlertDetailState.found, rx.fragment(summary(), transitions()), not_found()),
            rx.text("Loading…", color_scheme="gray", size="2"),
        ),
        spacing="5",
        width="100%",
    )
