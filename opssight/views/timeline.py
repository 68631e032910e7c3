"""Timeline sections: service, kind and window filters; the entries newest first with links to
their detail pages; "what changed before this?" around an alert or a problem; the services
panel (admins change it)."""

from __future__ import annotations

import reflex as rx

from opssight.components.cards import panel
from opssight.components.status import status_badge
from opssight.components.tables import rows_table
from opssight.services.service_map import KINDS as MEMBER_KINDS
from opssight.state.inputs import ALL
from opssight.state.timeline import TimelineState as T


def filters() -> rx.Component:
    return rx.flex(
        rx.select(
            rx.Var.create([ALL]) + T.service_names,
            value=T.service_name,
            on_change=T.choose_service,
            aria_label="Service",
        ),
        rx.foreach(
            T.kind_choices,
            lambda k: rx.button(
                k[1],
                size="1",
                variant=rx.cond(k[2] != "", "solid", "outline"),
                on_click=T.toggle_kind(k[0]),
                class_name="os-kind-toggle",
                data_kind=k[0],
                aria_pressed=rx.cond(k[2] != "", "true", "false"),
            ),
        ),
        rx.cond(
            T.anchor.contains("key"),
            rx.fragment(),
            rx.segmented_control.root(
                rx.segmented_control.item("6h", value="6"),
                rx.segmented_control.item("24h", value="24"),
                rx.segmented_control.item("3d", value="72"),
                rx.segmented_control.item("7d", value="168"),
                value=T.window,
                on_change=T.choose_window,
                aria_label="Window",
            ),
        ),
        gap="2",
        wrap="wrap",
        align="center",
    )


def _entry(e: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(e["when"], size="1", weight="medium"),
            rx.text(e["ago"], " ago", size="1", color_scheme="gray"),
            spacing="0",
            min_width="7em",
        ),
        rx.badge(e["kind_label"], variant="outline", class_name="os-entry-kind"),
        status_badge(e["tone"], rx.cond(e["tone"] == "down", "problem", e["tone"])),
        rx.vstack(
            rx.link(
                e["title"], href=e["link"], weight="medium", size="2", class_name="os-entry-link"
            ),
            rx.text(e["detail"], size="1", color_scheme="gray"),
            spacing="0",
        ),
        align="center",
        spacing="3",
        width="100%",
        class_name="os-timeline-entry",
        data_kind=e["kind"],
        data_key=e["key"],
    )


def anchor() -> rx.Component:
    a = T.anchor
    return rx.cond(
        a.contains("key"),
        panel(
            rx.vstack(
                rx.hstack(
                    rx.heading("What changed before this?", size="4", class_name="os-heading"),
                    rx.spacer(),
                    rx.button(
                        "Whole timeline", size="1", variant="soft", on_click=T.show_everything
                    ),
                    width="100%",
                ),
                rx.hstack(
                    status_badge(a["tone"], rx.cond(a["tone"] == "down", "problem", a["tone"])),
                    rx.link(a["title"], href=a["link"], weight="bold"),
                    rx.text(a["when"], " · ", a["detail"], size="2", color_scheme="gray"),
                    align="center",
                    spacing="3",
                    wrap="wrap",
                ),
                rx.text(
                    rx.cond(
                        T.covering != "",
                        rx.text("In the services it belongs to: ", T.covering),
                        "No service covers it: everything that happened is shown.",
                    ),
                    " 12 hours before it, newest first.",
                    size="2",
                ),
                spacing="2",
                width="100%",
            ),
            class_name="os-anchor",
        ),
    )


def entries() -> rx.Component:
    return panel(
        rx.vstack(
            rx.cond(
                T.missing,
                rx.callout("That service, alert or problem is not stored.", icon="info"),
            ),
            rx.cond(
                T.entries.length() > 0,
                rx.vstack(rx.foreach(T.entries, _entry), spacing="3", width="100%"),
                rx.text(
                    rx.cond(T.loaded, "Nothing changed in this window.", "Loading…"),
                    color_scheme="gray",
                    size="2",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-timeline-entries",
    )


def _field(name: str, placeholder: str, width: str = "12em") -> rx.Component:
    return rx.input(name=name, placeholder=placeholder, aria_label=placeholder, width=width)


def services() -> rx.Component:
    """Every service and its members; admins create, delete and map them."""
    return panel(
        rx.vstack(
            rx.heading("Services", size="4", class_name="os-heading"),
            rx.text(
                "A service's timeline gathers its repositories (deployments, pipeline failures), "
                "Kubernetes namespaces or workloads (alerts with that namespace label, pod "
                "problems and restarts) and Ansible inventory groups (runs touching them).",
                size="2",
                color_scheme="gray",
            ),
            rows_table(
                ["Service", "Members", ""],
                T.services,
                lambda s: [
                    rx.table.cell(
                        rx.vstack(
                            rx.text(s["name"], weight="medium"),
                            rx.text(s["description"], size="1", color_scheme="gray"),
                            spacing="0",
                        )
                    ),
                    rx.table.cell(rx.text(s["members"], size="2")),
                    rx.table.cell(
                        rx.cond(
                            T.is_admin,
                            rx.button(
                                "Delete",
                                size="1",
                                variant="soft",
                                color_scheme="red",
                                on_click=T.delete_service(s["id"]),
                            ),
                        )
                    ),
                ],
                class_name="os-service",
            ),
            rx.cond(T.is_admin, _admin_forms()),
            spacing="3",
            width="100%",
        ),
        class_name="os-services",
    )


def _admin_forms() -> rx.Component:
    return rx.vstack(
        rx.el.form(
            rx.hstack(
                _field("name", "Service name"),
                _field("description", "Description", "20em"),
                rx.button(
                    "Create service", type="submit", size="2", class_name="os-create-service"
                ),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=T.create_service,
            reset_on_submit=True,
        ),
        rx.el.form(
            rx.hstack(
                rx.select(
                    T.service_names,
                    name="service",
                    placeholder="Service",
                    aria_label="Member's service",
                ),
                rx.select(
                    list(MEMBER_KINDS.values()),
                    name="kind",
                    default_value="Repository",
                    aria_label="Member kind",
                ),
                _field("value", "owner/repo, cluster (* any) or group", "18em"),
                _field("namespace", "Namespace (Kubernetes)"),
                _field("workload", "Workload (optional)"),
                rx.button("Add member", type="submit", size="2", class_name="os-add-member"),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=T.add_member,
            reset_on_submit=True,
        ),
        rows_table(
            ["Service", "Kind", "Member", ""],
            T.members,
            lambda m: [
                rx.table.cell(m["service"]),
                rx.table.cell(m["kind"]),
                rx.table.cell(rx.code(m["label"])),
                rx.table.cell(
                    rx.button(
                        "Remove",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=T.remove_member(m["id"]),
                    )
                ),
            ],
            class_name="os-service-member",
        ),
        spacing="3",
        width="100%",
    )
