"""``/settings/connections``: connect sources and contact points (admin, checked server-side)."""

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.components.status import not_allowed
from opssight.state.connections import ConnectionsState
from opssight.state.shell import ShellState
from opssight.templates.shell import page
from opssight.views.connections import editor, saved


@page(routes.CONNECTIONS, on_load=[ConnectionsState.load])
def connections() -> rx.Component:
    return rx.cond(
        ShellState.is_admin & ConnectionsState.loaded,
        rx.vstack(
            rx.cond(
                ConnectionsState.error != "",
                rx.callout(ConnectionsState.error, icon="key-round", color_scheme="red"),
            ),
            editor(),
            panel(saved()),
            spacing="4",
            width="100%",
        ),
        rx.cond(ShellState.is_admin, rx.spinner(), not_allowed()),
    )
