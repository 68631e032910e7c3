"""``/audit``: the audit log, filterable by person, action, target and time (admins only)."""

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.components.status import not_allowed
from opssight.state.audit import WINDOWS, AuditState
from opssight.state.shell import ShellState
from opssight.templates.shell import page


def _filters() -> rx.Component:
    return rx.hstack(
        rx.form(
            rx.hstack(
                rx.input(name="actor", placeholder="who (login)", default_value=AuditState.actor),
                rx.input(
                    name="action", placeholder="action, e.g. user.", default_value=AuditState.action
                ),
                rx.input(name="target", placeholder="target", default_value=AuditState.target),
                rx.button("Filter", type="submit"),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=AuditState.apply_filters,
        ),
        rx.segmented_control.root(
            *[rx.segmented_control.item(w, value=w) for w in WINDOWS],
            value=AuditState.window,
            on_change=AuditState.choose_window,
        ),
        justify="between",
        wrap="wrap",
        width="100%",
    )


def _entries() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h)
                    for h in ["When", "Who", "Action", "Target", "Before", "After"]
                ]
            )
        ),
        rx.table.body(
            rx.foreach(
                AuditState.rows,
                lambda e: rx.table.row(
                    rx.table.cell(e["at"]),
                    rx.table.cell(e["actor"]),
                    rx.table.cell(rx.code(e["action"])),
                    rx.table.cell(e["target"]),
                    rx.table.cell(rx.code(e["before"], size="1")),
                    rx.table.cell(rx.code(e["after"], size="1")),
                ),
            )
        ),
        width="100%",
        size="1",
        class_name="os-audit-table",
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.text(f"{AuditState.total} entries", size="2", color_scheme="gray"),
        rx.button("Previous", size="1", variant="soft", on_click=AuditState.go_to_page(-1)),
        rx.text(f"page {AuditState.page + 1} of {AuditState.pages}", size="2"),
        rx.button("Next", size="1", variant="soft", on_click=AuditState.go_to_page(1)),
        align="center",
        spacing="3",
    )


@page(routes.AUDIT, on_load=[AuditState.load])
def audit() -> rx.Component:
    return rx.cond(
        ShellState.is_admin & AuditState.loaded,
        panel(rx.vstack(_filters(), _entries(), _pager(), spacing="4", width="100%")),
        rx.cond(ShellState.is_admin, rx.spinner(), not_allowed()),
    )
