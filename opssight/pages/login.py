"""``/login``: sign in with GitHub or a local account (both are full-page navigations, so the
browser's socket reconnects with the new session cookie)."""

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.state.login import LoginState
from opssight.templates.shell import page


def _password_form() -> rx.Component:
    return rx.el.form(
        rx.vstack(
            rx.el.label(rx.text("Login", size="2"), html_for="login-name"),
            rx.input(
                id="login-name", name="login", auto_complete="username", required=True, width="100%"
            ),
            rx.el.label(rx.text("Password", size="2"), html_for="login-password"),
            rx.input(
                id="login-password",
                name="password",
                type="password",
                auto_complete="current-password",
                required=True,
                width="100%",
            ),
            rx.el.input(type="hidden", name="next", value=LoginState.next_path),
            rx.button("Sign in", type="submit", width="100%"),
            spacing="2",
            width="100%",
        ),
        action="/api/auth/login",
        method="post",
        on_submit=None,  # a real submission (full-page), not a Reflex event
        width="100%",
    )


@page(routes.LOGIN, on_load=[LoginState.load], bare=True)
def login() -> rx.Component:
    return rx.center(
        panel(
            rx.vstack(
                rx.hstack(
                    rx.image(src="/logo.svg", width="32px", height="32px", alt=""),
                    rx.heading("Sign in to OpsSight", size="6", class_name="os-heading"),
                    align="center",
                    spacing="3",
                ),
                rx.cond(
                    LoginState.error != "",
                    rx.callout(
                        LoginState.error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                        class_name="os-login-error",
                        width="100%",
                    ),
                ),
                rx.cond(
                    LoginState.first_start_hint != "",
                    rx.callout(
                        LoginState.first_start_hint,
                        icon="key-round",
                        class_name="os-first-start",
                        width="100%",
                    ),
                ),
                rx.cond(
                    LoginState.github,
                    rx.vstack(
                        rx.el.form(
                            rx.el.input(type="hidden", name="next", value=LoginState.next_path),
                            rx.button(
                                rx.icon("log-in", size=18),
                                "Sign in with GitHub",
                                type="submit",
                                size="3",
                                width="100%",
                                class_name="os-github-sign-in",
                            ),
                            action="/api/auth/github/login",
                            method="get",
                            on_submit=None,  # a real submission: Reflex would prevent it
                            width="100%",
                        ),
                        rx.hstack(
                            rx.separator(size="4"),
                            rx.text("or", size="1", color_scheme="gray"),
                            rx.separator(size="4"),
                            align="center",
                            width="100%",
                        ),
                        width="100%",
                    ),
                ),
                _password_form(),
                rx.cond(
                    LoginState.demo,
                    rx.text(
                        "Demo mode is on: you may also ",
                        rx.el.a("browse the demo read-only", href="/", class_name="os-link"),
                        " without signing in.",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                spacing="4",
                width="100%",
            ),
            width="min(400px, 92vw)",
        ),
        min_height="100vh",
        class_name="os-login",
    )
