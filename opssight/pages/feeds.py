"""The pages whose integrations fill them: each shows its honest empty state until data arrives."""

import reflex as rx

from opssight import routes
from opssight.templates.shell import page
from opssight.views.empty import empty_view


@page(routes.AUTOMATION)
def automation() -> rx.Component:
    return empty_view("bot", "Ansible playbook runs, hosts and task results.", "Ansible")


@page(routes.TIMELINE)
def timeline() -> rx.Component:
    return empty_view(
        "history", "Deploys, alerts, pod restarts and playbook runs on one time axis.", "change"
    )
