"""``/alerts``: current alerts, rules, per-rule figures and history, live."""

import reflex as rx

from opssight import routes
from opssight.state.alerts import AlertsState
from opssight.templates.shell import page
from opssight.views.alerts import (
    current,
    figures,
    filters,
    history,
    rule_form,
    rule_list,
    silences,
)


@page(routes.ALERTS, on_load=[AlertsState.load])
def alerts() -> rx.Component:
    return rx.vstack(
        rx.cond(
            AlertsState.error != "",
            rx.callout(AlertsState.error, icon="triangle-alert", color_scheme="red"),
        ),
        filters(),
        current(),
        silences(),
        rule_list(),
        figures(),
        history(),
        rule_form(),
        spacing="5",
        width="100%",
    )
