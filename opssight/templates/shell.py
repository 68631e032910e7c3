"""The page shell: sidebar from the route registry, header with theme and user controls, theme root.

``page(route)`` registers a page function; ``opssight.py`` adds every registered page with the
shell's on_load events (session, theme, live listener) before the page's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import reflex as rx

from opssight.components.status import demo_badge
from opssight.components.theme_picker import mode_switch, variant_select
from opssight.routes import PASSWORD, SIDEBAR, Route
from opssight.state.account import AccountState
from opssight.state.live import LiveState
from opssight.state.shell import ShellState
from opssight.state.theme import ThemeState


class Page(NamedTuple):
    route: Route
    component: Callable[[], rx.Component]
    on_load: list
    bare: bool = False  # no sidebar, header or sign-in gate (the sign-in page itself)


PAGES: list[Page] = []


def _nav_link(route: Route, active: Route) -> rx.Component:
    link = rx.link(
        rx.hstack(rx.icon(route.icon, size=16), rx.text(route.title, size="2"), spacing="2"),
        href=route.path,
        underline="none",
        class_name="os-nav-link",
        data_active="true" if route == active else "false",
        aria_current="page" if route == active else None,
    )
    return rx.cond(ShellState.is_admin, link) if route.admin_only else link


def sidebar(active: Route) -> rx.Component:
    sections: dict[str, list[Route]] = {}
    for route in SIDEBAR:
        sections.setdefault(route.section, []).append(route)
    return rx.el.nav(
        rx.hstack(
            rx.image(src="/logo.svg", width="28px", height="28px", alt=""),
            rx.heading("OpsSight", size="4", class_name="os-heading"),
            spacing="2",
            align="center",
            class_name="os-brand",
        ),
        *[
            rx.vstack(
                rx.text(section, size="1", class_name="os-nav-section"),
                *[_nav_link(route, active) for route in routes],
                spacing="1",
                width="100%",
            )
            for section, routes in sections.items()
        ],
        class_name="os-sidebar",
        aria_label="Main",
    )


def user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.avatar(
                    src=ShellState.avatar_url,
                    fallback=rx.cond(ShellState.signed_in, ShellState.login[:2], "?"),
                    size="1",
                    radius="full",
                    alt="",
                ),
                rx.text(
                    rx.cond(ShellState.signed_in, ShellState.name, "Guest"),
                    size="2",
                    class_name="os-user-name",
                ),
                variant="ghost",
                class_name="os-user-button",
                aria_label="User menu",
            )
        ),
        rx.menu.content(
            rx.cond(
                ShellState.signed_in,
                rx.fragment(
                    rx.menu.item(f"@{ShellState.login} · {ShellState.role}", disabled=True),
                    rx.menu.separator(),
                    rx.menu.item("Settings", on_click=rx.redirect("/settings")),
                    rx.cond(
                        ShellState.local_password,
                        rx.menu.item("Change password", on_click=rx.redirect(PASSWORD.path)),
                    ),
                    rx.menu.item(
                        rx.el.button("Sign out", type="submit", form=SIGN_OUT_FORM),
                        as_child=True,
                    ),
                    rx.menu.item(
                        "Sign out everywhere",
                        on_click=AccountState.sign_out_everywhere,
                        color="red",
                    ),
                ),
                rx.fragment(
                    rx.menu.item("Demo guest: read-only", disabled=True),
                    rx.menu.separator(),
                    rx.menu.item("Sign in", on_click=rx.redirect("/login")),
                    rx.menu.item("Settings", on_click=rx.redirect("/settings")),
                ),
            ),
        ),
    )


SIGN_OUT_FORM = "os-sign-out"


def sign_out_form() -> rx.Component:
    """Sign-out is a full-page POST (the socket reconnects without the session); the menu item
    submits this form, which lives outside the menu so closing the menu cannot drop it."""
    return rx.el.form(
        id=SIGN_OUT_FORM,
        action="/api/auth/logout",
        method="post",
        on_submit=None,  # a real submission, not a Reflex event
        hidden=True,
    )


def header(route: Route) -> rx.Component:
    return rx.el.header(
        rx.hstack(
            rx.heading(route.title, size="6", class_name="os-heading os-page-title"),
            rx.cond(ShellState.demo, demo_badge()),
            rx.cond(
                ShellState.guest,
                rx.tooltip(
                    rx.badge("guest · read-only", color_scheme="gray", variant="soft"),
                    content="Demo mode: browsing without signing in. Sign in to change anything.",
                ),
            ),
            align="center",
            spacing="3",
        ),
        rx.hstack(
            variant_select(),
            mode_switch(),
            user_menu(),
            sign_out_form(),
            align="center",
            spacing="3",
        ),
        class_name="os-header",
    )


def themed(content: rx.Component) -> rx.Component:
    """The theme root; the outer div carries the dynamic hue (a theme root drops ``style``)."""
    return rx.el.div(
        rx.theme(
            content,
            accent_color=ThemeState.accent,
            gray_color=ThemeState.gray,
            radius=ThemeState.radius,
            scaling=ThemeState.scaling,
            has_background=True,
            custom_attrs={"data-variant": ThemeState.variant, "data-mode": ThemeState.mode},
            class_name=ThemeState.root_class,
        ),
        style={"--os-hue": ThemeState.hue_css},
    )


def shell(route: Route, content: rx.Component) -> rx.Component:
    return themed(
        rx.el.div(
            sidebar(route),
            rx.el.div(
                header(route),
                rx.el.main(content, class_name="os-main"),
                class_name="os-body",
            ),
            class_name="os-shell",
        )
    )


def page(route: Route, on_load: list | None = None, *, bare: bool = False):
    """Register ``fn`` as the page at ``route``, wrapped in the shell (or only themed)."""

    def register(fn: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def component() -> rx.Component:
            return themed(fn()) if bare else shell(route, fn())

        component.__name__ = fn.__name__
        PAGES.append(Page(route, component, on_load or [], bare))
        return component

    return register


def shell_on_load(bare: bool = False) -> list:
    """The events every page loads with: the sign-in gate first, then theme and live updates."""
    if bare:
        return [ThemeState.sync]
    return [ShellState.load, ThemeState.sync, LiveState.start]
