"""``/alerts``: current alerts, rules, per-rule figures and history; notification policies and
deliveries on the Notifications tab. Live."""

import reflex as rx

from opssight import routes
from opssight.state.alerts import AlertsState
from opssight.state.my_notifications import MyNotificationsState
from opssight.state.notifications import NotificationsState
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
from opssight.views.notifications import notifications_tab


def _alerts_tab() -> rx.Component:
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


@page(routes.ALERTS, on_load=[AlertsState.load, NotificationsState.load, MyNotificationsState.load])
def alerts() -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(
            rx.tabs.trigger("Alerts", value="alerts", class_name="os-tab-alerts"),
            rx.tabs.trigger("Notifications", value="notifications", class_name="os-tab-notify"),
        ),
        rx.tabs.content(_alerts_tab(), value="alerts", padding_top="1em"),
        rx.tabs.content(notifications_tab(), value="notifications", padding_top="1em"),
        default_value="alerts",
        width="100%",
    )
