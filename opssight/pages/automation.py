"""``/automation``: Ansible playbook runs and a run's task-by-host matrix, live;
``/automation/hosts``: every host with its latest result."""

import reflex as rx

from opssight import routes
from opssight.state.automation import AutomationHostsState, AutomationState
from opssight.templates.shell import page
from opssight.views.automation import filters, hosts, run_detail, runs


def _error(message: rx.Var[str]) -> rx.Component:
    return rx.cond(message != "", rx.callout(message, icon="triangle-alert", color_scheme="red"))


@page(routes.AUTOMATION, on_load=[AutomationState.load])
def automation() -> rx.Component:
    return rx.vstack(
        _error(AutomationState.error),
        run_detail(),
        filters(),
        runs(),
        spacing="5",
        width="100%",
    )


@page(routes.AUTOMATION_HOSTS, on_load=[AutomationHostsState.load])
def automation_hosts() -> rx.Component:
    return rx.vstack(_error(AutomationHostsState.error), hosts(), spacing="5", width="100%")
