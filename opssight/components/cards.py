"""Cards: the panel every variant styles, and the stat card."""

from __future__ import annotations

import reflex as rx


def panel(*children: rx.Component, **props) -> rx.Component:
    """The surface the theme variants restyle (borders, shadows, blur)."""
    class_name = f"os-card {props.pop('class_name', '')}".strip()
    return rx.card(*children, class_name=class_name, **props)


def stat_card(label: rx.Var[str] | str, value: rx.Var[str] | str) -> rx.Component:
    return panel(
        rx.text(label, size="2", color_scheme="gray", class_name="os-stat-label"),
        rx.heading(value, size="7", class_name="os-stat-value"),
        class_name="os-stat",
    )
