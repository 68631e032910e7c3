"""``/admin``: users and the audit log (admin permission, checked server-side)."""

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.state.admin import AdminState
from opssight.templates.shell import page


def _table(headers: list[str], rows, keys: list[str]) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(
            rx.foreach(rows, lambda r: rx.table.row(*[rx.table.cell(r[k]) for k in keys]))
        ),
        width="100%",
    )


@page(routes.ADMIN, on_load=[AdminState.load])
def admin() -> rx.Component:
    return rx.cond(
        AdminState.allowed,
        rx.vstack(
            panel(
                rx.heading("Users", size="4", class_name="os-heading"),
                _table(["Login", "Role", "Active"], AdminState.users, ["login", "role", "active"]),
            ),
            panel(
                rx.heading("Audit log", size="4", class_name="os-heading"),
                _table(
                    ["When", "Who", "Action", "Target"],
                    AdminState.audit,
                    ["at", "actor", "action", "target"],
                ),
            ),
            spacing="5",
            width="100%",
        ),
        rx.callout(
            "Administrators only: sign in with an account that has the admin role.",
            icon="shield-alert",
            color_scheme="amber",
            class_name="os-not-allowed",
        ),
    )
