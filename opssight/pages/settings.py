"""``/settings``: appearance (theme variant, color mode, accent hue) with live previews."""

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.components.theme_picker import hue_slider, mode_switch, variant_previews
from opssight.state.shell import ShellState
from opssight.templates.shell import page


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
            ShellState.is_admin,
            panel(
                rx.hstack(
                    rx.vstack(
                        rx.heading("Connections", size="4", class_name="os-heading"),
                        rx.text(
                            "GitHub, Kubernetes, Prometheus, Alertmanager, email and contact "
                            "points: add them, test them, and see what is set by environment.",
                            size="2",
                            color_scheme="gray",
                        ),
                        spacing="1",
                    ),
                    rx.link(rx.button("Open Connections"), href=routes.CONNECTIONS.path),
                    justify="between",
                    align="center",
                    width="100%",
                )
            ),
        ),
        rx.cond(
            ShellState.is_admin,
            panel(
                rx.hstack(
                    rx.vstack(
                        rx.heading("Services", size="4", class_name="os-heading"),
                        rx.text(
                            "Map repositories, Kubernetes namespaces or workloads and Ansible "
                            "inventory groups to services: each service gets its change timeline.",
                            size="2",
                            color_scheme="gray",
                        ),
                        spacing="1",
                    ),
                    rx.link(rx.button("Map services"), href=routes.TIMELINE.path),
                    justify="between",
                    align="center",
                    width="100%",
                )
            ),
        ),
        rx.cond(
            ShellState.is_admin,
            panel(
                rx.hstack(
                    rx.vstack(
                        rx.heading("History retention", size="4", class_name="os-heading"),
                        rx.text(
                            "How many months of workflow jobs, alert changes, Kubernetes events "
                            "and restarts, Ansible results and connector checks are kept (weekly "
                            "roll-ups stay): Admin → History.",
                            size="2",
                            color_scheme="gray",
                        ),
                        spacing="1",
                    ),
                    rx.link(rx.button("Set retention"), href=routes.ADMIN.path),
                    justify="between",
                    align="center",
                    width="100%",
                )
            ),
        ),
        spacing="5",
        width="100%",
    )
