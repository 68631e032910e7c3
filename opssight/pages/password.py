"""``/settings/password``: a local account changes its password (user menu → Change password)."""

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.services.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from opssight.state.account import AccountState
from opssight.state.shell import ShellState
from opssight.templates.shell import page


def _field(input_id: str, label: str, hint: str = "") -> rx.Component:
    new = input_id != "current-password"
    return rx.vstack(
        rx.el.label(rx.text(label, size="2"), html_for=input_id),
        rx.input(
            id=input_id,
            name=input_id.replace("-", "_"),
            type="password",
            auto_complete="new-password" if new else "current-password",
            required=True,
            max_length=MAX_PASSWORD_LENGTH,
            width="100%",
            **({"min_length": MIN_PASSWORD_LENGTH} if new else {}),
        ),
        *([rx.text(hint, size="1", color_scheme="gray")] if hint else []),
        spacing="1",
        width="100%",
    )


def _form() -> rx.Component:
    return rx.el.form(
        rx.vstack(
            rx.el.input(  # for password managers: whose password this is
                type="text",
                name="username",
                value=ShellState.login,
                auto_complete="username",
                read_only=True,
                hidden=True,
            ),
            _field("current-password", "Current password"),
            _field(
                "new-password",
                "New password",
                f"At least {MIN_PASSWORD_LENGTH} characters, neither your login nor your current "
                "password.",
            ),
            _field("confirm-password", "New password again"),
            rx.cond(
                AccountState.password_error != "",
                rx.callout(
                    AccountState.password_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    class_name="os-password-error",
                    width="100%",
                ),
            ),
            rx.button("Change password", type="submit"),
            spacing="3",
            width="100%",
        ),
        on_submit=AccountState.change_password,
        width="100%",
    )


@page(routes.PASSWORD, on_load=[AccountState.clear_password_error])
def password() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("Password", size="4", class_name="os-heading"),
            rx.cond(
                ShellState.local_password,
                rx.vstack(
                    rx.text(
                        f"Signed in as @{ShellState.login}. This browser stays signed in; your "
                        "other sessions end.",
                        size="2",
                        color_scheme="gray",
                    ),
                    _form(),
                    spacing="4",
                    width="100%",
                ),
                rx.text(
                    rx.cond(
                        ShellState.signed_in,
                        "You sign in with GitHub: your account has no OpsSight password. Change "
                        "your password on GitHub.",
                        "Sign in with a local account to change its password.",
                    ),
                    size="2",
                    class_name="os-no-password",
                ),
            ),
            spacing="4",
            width="100%",
        ),
        width="min(480px, 100%)",
    )
