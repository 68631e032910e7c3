"""A plain table: headers, then one row per item of a state list."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx


def rows_table(headers: list[str], rows: rx.Var, cells: Callable, **props) -> rx.Component:
    """``cells(row)`` gives one row's cells; ``props`` go on every row (class names, data)."""
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, lambda r: rx.table.row(*cells(r), **props))),
        width="100%",
        size="1",
    )
