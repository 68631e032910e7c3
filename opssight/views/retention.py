"""Admin → History: each history table's retention (editable), roll-up table and partitions."""

from __future__ import annotations

import reflex as rx

from opssight.state.retention import RetentionState as R

ABOUT = (
    "On PostgreSQL each history table is split into one partition per month. Every day the "
    "partitions job creates the coming months and, for months older than a table's retention, "
    "adds them up by week into its roll-up table, then drops the whole month."
)
SQLITE = (
    "Partitioning applies to PostgreSQL only. This OpsSight runs on SQLite: these are plain "
    "tables and their history is kept in full; the retention set here applies once it runs on "
    "PostgreSQL."
)


def _retention_form(t: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(type="hidden", name="table", value=t["name"]),
            rx.input(
                name="months",
                type="number",
                min=1,
                max=120,
                default_value=t["months"],
                key=t["name"] + t["months"],
                width="6em",
                aria_label="Months kept: " + t["name"],
            ),
            rx.button("Save", type="submit", size="1", variant="soft"),
            spacing="2",
            align="center",
        ),
        on_submit=R.set_months,
    )


def _tables() -> rx.Component:
    headers = ["History", "Table", "Partitioned on", "Months kept", "Weekly roll-up", "Partitions"]
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(
            rx.foreach(
                R.tables,
                lambda t: rx.table.row(
                    rx.table.cell(t["label"]),
                    rx.table.cell(rx.code(t["name"])),
                    rx.table.cell(rx.code(t["column"])),
                    rx.table.cell(_retention_form(t)),
                    rx.table.cell(rx.code(t["rollup"])),
                    rx.table.cell(rx.cond(R.partitioned, t["partitions"], "—")),
                    data_table=t["name"],
                ),
            )
        ),
        width="100%",
        size="1",
        class_name="os-history-tables",
    )


def _partitions() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(*[rx.table.column_header_cell(h) for h in ("Table", "Month", "Rows")])
        ),
        rx.table.body(
            rx.foreach(
                R.partitions,
                lambda p: rx.table.row(
                    rx.table.cell(rx.code(p["table"])),
                    rx.table.cell(p["month"]),
                    rx.table.cell(p["rows"]),
                    data_partition=p["name"],
                ),
            )
        ),
        width="100%",
        size="1",
        class_name="os-history-partitions",
    )


def history() -> rx.Component:
    return rx.vstack(
        rx.cond(
            R.partitioned,
            rx.text(ABOUT, size="2", color_scheme="gray"),
            rx.callout(SQLITE, icon="info", color_scheme="blue", class_name="os-history-sqlite"),
        ),
        _tables(),
        rx.cond(
            R.partitioned,
            rx.vstack(rx.heading("Partitions", size="3"), _partitions(), width="100%"),
        ),
        spacing="3",
        width="100%",
    )
