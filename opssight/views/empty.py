"""The honest empty state of a page whose source has sent nothing yet."""

from __future__ import annotations

import reflex as rx

from opssight.components.cards import panel


def empty_view(icon: str, what: str, source: str) -> rx.Component:
    return panel(
        rx.vstack(
            rx.icon(icon, size=32),
            rx.text(what, size="3", class_name="os-prose"),
            rx.text(
                f"Nothing to show yet: no {source} data has been ingested.", color_scheme="gray"
            ),
            spacing="3",
            align="start",
        ),
        class_name="os-empty",
    )
