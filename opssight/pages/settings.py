"""``/settings``: appearance (theme variant, color mode, accent hue) with live previews, and
where a local account changes its password."""

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.components.theme_picker import hue_slider, mode_switch, variant_previews
from opssight.state.shell import ShellState
from opssight.templates.shell import page


def _link_panel(title: str, text: str, button: str, href: str) -> rx.Component:
    """A panel pointing at where a setting is managed."""
    return panel(
        rx.hstack(
            rx.vstack(
                rx.heading(title, size="4", class_name="os-heading"),
                rx.text(text, size="2", color_scheme="gray"),
                spacing="1",
            ),
            rx.link(rx.button(button), href=href),
            justify="between",
            align="center",
            width="100%",
        )
    )


@page(routes.SETTINGS)
def settings() -> rx.Component:
    return rx.vstack(
        panel(
            rx.vstack(
                rx.heading("Appearance", size="4", class_name="os-heading"),
                rx.text(
                    rx.cond(
                        ShellState.signed_in,
                        "Saved to your account and to this browser.",
                        "Saved in this browser. Sign in to keep it on every device.",
                    ),
                    color_scheme="gray",
                    size="2",
                ),
                rx.hstack(rx.text("Color mode", size="2"), mode_switch(), align="center"),
                hue_slider(),
                spacing="4",
            ),
        ),
        variant_previews(),
        rx.cond(
            ShellState.local_password,
            _link_panel(
                "Password",
                "Change the password you sign in with; your other sessions end.",
                "Change password",
                routes.PASSWORD.path,
            ),
        ),
        rx.cond(
            ShellState.is_admin,
            rx.vstack(
                _link_panel(
                    "Connections",
                    "GitHub, Kubernetes, Prometheus, Alertmanager, email and contact points: add "
                    "them, test them, and see what is set by environment.",
                    "Open Connections",
                    routes.CONNECTIONS.path,
                ),
                _link_panel(
                    "Services",
                    "Map repositories, Kubernetes namespaces or workloads and Ansible inventory "
                    "groups to services: each service gets its change timeline.",
                    "Map services",
                    routes.TIMELINE.path,
                ),
                _link_panel(
                    "History retention",
                    "How many months of workflow jobs, alert changes, Kubernetes events and "
                    "restarts, Ansible results and connector checks are kept (weekly roll-ups "
                    "stay): Admin → History.",
                    "Set retention",
                    routes.ADMIN.path,
                ),
                spacing="5",
                width="100%",
            ),
        ),
        spacing="5",
        width="100%",
    )
