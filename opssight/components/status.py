"""Status badge: ok / degraded / down / unknown with one color each."""

from __future__ import annotations

import reflex as rx


def status_badge(state: rx.Var[str]) -> rx.Component:
    color = rx.match(state, ("ok", "green"), ("degraded", "amber"), ("down", "red"), "gray")
    return rx.badge(
        state, color_scheme=color, variant="soft", class_name="os-status", data_state=state
    )


def demo_badge() -> rx.Component:
    return rx.badge("demo", color_scheme="violet", variant="outline", class_name="os-demo-badge")
