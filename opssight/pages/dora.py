"""``/dora``: the four DORA keys, live."""

import reflex as rx

from opssight import routes
from opssight.state.dora import DoraState
from opssight.templates.shell import page
from opssight.views.dora import controls, key_cards, rows_dialog, trends


@page(routes.DORA, on_load=[DoraState.load])
def dora() -> rx.Component:
    return rx.vstack(
        rx.cond(
            DoraState.error != "",
            rx.callout(DoraState.error, icon="triangle-alert", color_scheme="red"),
        ),
        controls(),
        key_cards(),
        trends(),
        rows_dialog(),
        spacing="5",
        width="100%",
    )
