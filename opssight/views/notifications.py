"""Alerts → Notifications sections: my notifications, the policies with their form, and the
delivery log."""

from __future__ import annotations

import reflex as rx

from opssight.components.cards import panel
from opssight.components.status import status_badge
from opssight.components.tables import rows_table
from opssight.services.alerting.policies import DELIVERY_STATUSES
from opssight.services.alerting.queries import SEVERITIES
from opssight.state.inputs import ALL
from opssight.state.my_notifications import MyNotificationsState as M
from opssight.state.notifications import NO_ESCALATION
from opssight.state.notifications import NotificationsState as N

POLICY_COLUMNS = ["Policy", "Matchers", "Contact point", "Group by", "Wait / interval / repeat",
                  "Escalation", "Continue", ""]  # fmt: skip
DELIVERY_COLUMNS = ["When", "Policy", "Contact point", "Firing", "Resolved", "Status", "Attempts",
                    "Last error", "Next retry"]  # fmt: skip


def _policy_actions(p) -> rx.Component:
    return rx.cond(
        N.can_write,
        rx.hstack(
            rx.switch(
                checked=p["enabled"] != "",
                on_change=lambda on: N.toggle_policy(p["id"], on),
                aria_label="Policy enabled",
            ),
            rx.icon_button(
                rx.icon("arrow-up", size=14),
                size="1",
                variant="ghost",
                on_click=N.move_policy(p["id"], -1),
                aria_label="Move up",
            ),
            rx.icon_button(
                rx.icon("arrow-down", size=14),
                size="1",
                variant="ghost",
                on_click=N.move_policy(p["id"], 1),
                aria_label="Move down",
            ),
            rx.button("Edit", size="1", variant="soft", on_click=N.edit_policy(p["id"])),
            rx.button(
                "Delete",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=N.delete_policy(p["id"]),
            ),
            align="center",
        ),
        rx.text(rx.cond(p["enabled"] != "", "enabled", "disabled"), size="1"),
    )


def policy_list() -> rx.Component:
    return panel(
        rx.vstack(
            rx.hstack(
                rx.heading("Notification policies", size="4", class_name="os-heading"),
                rx.spacer(),
                rx.cond(
                    N.can_write,
                    rx.button(
                        "New policy", size="2", on_click=N.new_policy, class_name="os-new-policy"
                    ),
                ),
                width="100%",
                align="center",
            ),
            rx.text(
                "Tried in order: an alert goes to the first policy whose matchers all hold, "
                "and on to the next while a matching policy says continue.",
                size="1",
                color_scheme="gray",
            ),
            rx.cond(
                N.policies.length() > 0,
                rows_table(
                    POLICY_COLUMNS,
                    N.policies,
                    lambda p: [
                        rx.table.cell(rx.text(p["name"], weight="medium", size="2")),
                        rx.table.cell(rx.code(p["matchers"], size="1")),
                        rx.table.cell(p["contact_point"]),
                        rx.table.cell(p["group_by"]),
                        rx.table.cell(p["timing"]),
                        rx.table.cell(rx.text(p["escalation"], size="1")),
                        rx.table.cell(p["continue"]),
                        rx.table.cell(_policy_actions(p)),
                    ],
                    class_name="os-policy",
                ),
                rx.text("No policy yet: nothing is sent.", color_scheme="gray", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-policies",
    )


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1", width="100%")


def _text(label: str, field: str, value, aria: str) -> rx.Component:
    return _field(
        label,
        rx.input(value=value, on_change=lambda v: N.set_form_field(field, v), aria_label=aria),
    )


def _contact_point_picker() -> rx.Component:
    return rx.cond(
        N.contact_points.length() > 0,
        rx.select.root(
            rx.select.trigger(
                placeholder="Pick a contact point", width="100%", aria_label="Contact point"
            ),
            rx.select.content(
                rx.foreach(N.contact_points, lambda c: rx.select.item(c["label"], value=c["id"]))
            ),
            value=N.form_contact_point,
            on_change=lambda v: N.set_form_field("contact_point", v),
        ),
        rx.callout(
            "No contact point yet: an administrator adds them under Settings.",
            icon="info",
            size="1",
        ),
    )


def _escalation_picker() -> rx.Component:
    return rx.select.root(
        rx.select.trigger(width="100%", aria_label="Escalation contact point"),
        rx.select.content(
            rx.select.item("No escalation", value=NO_ESCALATION),
            rx.foreach(N.contact_points, lambda c: rx.select.item(c["label"], value=c["id"])),
        ),
        value=N.form_escalation_point,
        on_change=lambda v: N.set_form_field("escalation_point", v),
    )


def policy_form() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(N.form_id == 0, "New policy", "Edit policy")),
            rx.vstack(
                _text("Name", "name", N.form_name, "Policy name"),
                _field(
                    "Label matchers, one per line: name op value, op = != =~ !~ "
                    "(regexes match the whole value; none: every alert)",
                    rx.text_area(
                        value=N.form_matchers,
                        on_change=lambda v: N.set_form_field("matchers", v),
                        aria_label="Matchers",
                        placeholder="severity=critical\nnamespace=~prod-.*",
                        font_family="monospace",
                    ),
                ),
                _field("Contact point", _contact_point_picker()),
                _text(
                    "Group by (label names, comma-separated)",
                    "group_by",
                    N.form_group_by,
                    "Group by",
                ),
                rx.hstack(
                    _text("Group wait", "group_wait", N.form_group_wait, "Group wait"),
                    _text(
                        "Group interval", "group_interval", N.form_group_interval, "Group interval"
                    ),
                    _text(
                        "Repeat interval",
                        "repeat_interval",
                        N.form_repeat_interval,
                        "Repeat interval",
                    ),
                    width="100%",
                ),
                rx.hstack(
                    _text(
                        "Escalate critical alerts not acknowledged after (minutes; empty: never)",
                        "escalate_after",
                        N.form_escalate_after,
                        "Escalate after minutes",
                    ),
                    _field("Escalation contact point", _escalation_picker()),
                    width="100%",
                    align="end",
                ),
                rx.checkbox(
                    "Continue matching the next policies",
                    checked=N.form_continue_matching,
                    on_change=lambda v: N.set_form_field("continue_matching", v),
                ),
                rx.checkbox(
                    "Enabled",
                    checked=N.form_enabled,
                    on_change=lambda v: N.set_form_field("enabled", v),
                ),
                rx.cond(
                    N.form_error != "",
                    rx.callout(
                        N.form_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        class_name="os-policy-error",
                    ),
                ),
                rx.hstack(
                    rx.button("Cancel", variant="soft", color_scheme="gray", on_click=N.close_form),
                    rx.button("Save", on_click=N.save_policy, class_name="os-save-policy"),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
            ),
            max_width="44em",
        ),
        open=N.form_open,
        on_open_change=lambda _: N.close_form(),
    )


def delivery_log() -> rx.Component:
    return panel(
        rx.vstack(
            rx.hstack(
                rx.heading("Deliveries", size="4", class_name="os-heading"),
                rx.spacer(),
                rx.select(
                    [ALL, *DELIVERY_STATUSES],
                    value=rx.cond(N.delivery_status == "", ALL, N.delivery_status),
                    on_change=N.choose_status,
                    custom_attrs={"aria-label": "Delivery status"},
                ),
                width="100%",
                align="center",
            ),
            rx.cond(
                N.deliveries.length() > 0,
                rows_table(
                    DELIVERY_COLUMNS,
                    N.deliveries,
                    lambda d: [
                        rx.table.cell(d["at"]),
                        rx.table.cell(
                            rx.vstack(
                                rx.text(d["policy"], size="2"),
                                rx.cond(
                                    d["kind"] != "policy",
                                    rx.badge(d["kind"], variant="outline", size="1"),
                                ),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(d["contact_point"]),
                        rx.table.cell(d["firing"]),
                        rx.table.cell(d["resolved"]),
                        rx.table.cell(status_badge(d["tone"], d["status"])),
                        rx.table.cell(d["attempts"]),
                        rx.table.cell(rx.text(d["error"], size="1", color_scheme="red")),
                        rx.table.cell(d["next"]),
                    ],
                    class_name="os-delivery",
                ),
                rx.text(
                    rx.cond(N.loaded, "No delivery yet.", "Loading…"),
                    color_scheme="gray",
                    size="2",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-deliveries",
    )


def _my_text(label: str, field: str, value, **props) -> rx.Component:
    return _field(
        label,
        rx.input(value=value, on_change=lambda v: M.set_field(field, v), aria_label=label, **props),
    )


def _my_form() -> rx.Component:
    return rx.vstack(
        rx.checkbox(
            "Email me alerts that policies notify",
            checked=M.enabled,
            on_change=lambda v: M.set_field("enabled", v),
            class_name="os-my-enabled",
        ),
        rx.hstack(
            _my_text("My address (empty: my account's)", "email", M.email, placeholder=M.own_email),
            _field(
                "From severity",
                rx.select(
                    list(SEVERITIES),
                    value=M.min_severity,
                    on_change=lambda v: M.set_field("min_severity", v),
                    custom_attrs={"aria-label": "From severity"},
                ),
            ),
            width="100%",
        ),
        rx.cond(
            M.all_teams.length() > 0,
            _field(
                "Only these teams' alerts (none ticked: every team)",
                rx.flex(
                    rx.foreach(
                        M.all_teams,
                        lambda t: rx.checkbox(
                            t,
                            checked=M.teams.contains(t),
                            on_change=lambda on: M.choose_team(t, on),
                        ),
                    ),
                    gap="3",
                    wrap="wrap",
                ),
            ),
        ),
        rx.hstack(
            _my_text("Quiet from (HH:MM)", "quiet_start", M.quiet_start, placeholder="22:00"),
            _my_text("Quiet until (HH:MM)", "quiet_end", M.quiet_end, placeholder="07:00"),
            _my_text("My time zone", "timezone", M.timezone, placeholder="Europe/Paris"),
            width="100%",
        ),
        rx.checkbox(
            "Critical alerts still reach me during quiet hours",
            checked=M.critical_in_quiet,
            on_change=lambda v: M.set_field("critical_in_quiet", v),
        ),
        rx.cond(
            M.error != "",
            rx.callout(
                M.error, icon="triangle-alert", color_scheme="red", class_name="os-my-error"
            ),
        ),
        rx.button("Save my preferences", on_click=M.save, class_name="os-my-save"),
        spacing="3",
        width="100%",
    )


def my_notifications() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("My notifications", size="4", class_name="os-heading"),
            rx.text(
                "A copy of what the policies send, by email to you: the alerts you choose, "
                "held back during your quiet hours.",
                size="1",
                color_scheme="gray",
            ),
            rx.cond(
                M.signed_in,
                _my_form(),
                rx.text("Sign in to choose the alerts sent to you.", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-my-notifications",
    )


def notifications_tab() -> rx.Component:
    return rx.vstack(
        rx.cond(
            N.error != "",
            rx.callout(N.error, icon="triangle-alert", color_scheme="red"),
        ),
        my_notifications(),
        policy_list(),
        delivery_log(),
        policy_form(),
        spacing="5",
        width="100%",
    )
