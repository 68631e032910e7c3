"""Status badge: connector states and run/job states, one color per meaning."""

from __future__ import annotations

import reflex as rx


def status_badge(state: rx.Var[str], label: rx.Var[str] | None = None) -> rx.Component:
    """A badge colored by ``state``, reading ``label`` (the state itself by default)."""
    color = rx.match(
        state,
        ("ok", "success", "complete", "Ready", "green"),
        ("degraded", "in_progress", "queued", "waiting", "requested", "progressing", "amber"),
        ("down", "failure", "timed_out", "startup_failure", "stuck", "failed", "NotReady", "red"),
        "gray",
    )
    return rx.badge(
        state if label is None else label,
        color_scheme=color,
        variant="soft",
        class_name="os-status",
        data_state=state,
    )


def demo_badge() -> rx.Component:
    return rx.badge("demo", color_scheme="violet", variant="outline", class_name="os-demo-badge")


def not_allowed() -> rx.Component:
    """What a page restricted to admins shows anyone else (its handlers refuse them too)."""
    return rx.callout(
        "Not allowed: administrators only. Sign in with an account that has the admin role.",
        icon="shield-alert",
        color_scheme="amber",
        class_name="os-not-allowed",
    )
