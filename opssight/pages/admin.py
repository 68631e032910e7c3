"""``/admin``: users, role rules, teams, sessions and history retention (admin permission, checked
server-side)."""

import reflex as rx

from opssight import routes
from opssight.components.cards import panel
from opssight.components.status import not_allowed
from opssight.state.admin import AdminState
from opssight.state.retention import RetentionState
from opssight.state.shell import ShellState
from opssight.templates.shell import page
from opssight.views.retention import history


def _danger(label: str, on_click) -> rx.Component:
    return rx.button(label, size="1", variant="soft", color_scheme="red", on_click=on_click)


def _table(headers: list[str], rows, cells) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, lambda r: rx.table.row(*cells(r)))),
        width="100%",
        size="1",
    )


def _user_cells(user) -> list[rx.Component]:
    return [
        rx.table.cell(
            rx.vstack(
                rx.text(user["login"], weight="medium"),
                rx.text(user["name"], size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.select(
                AdminState.roles,
                value=user["role"],
                on_change=lambda role: AdminState.set_role(user["id"], role),
                size="1",
                aria_label="Role of " + user["login"],
            )
        ),
        rx.table.cell(
            rx.switch(
                checked=user["active"] == "active",
                on_change=lambda on: AdminState.set_active(user["id"], on),
                aria_label="Account active: " + user["login"],
            )
        ),
        rx.table.cell(user["kind"]),
        rx.table.cell(user["teams"]),
        rx.table.cell(user["last_seen"]),
        rx.table.cell(_danger("Sign out everywhere", AdminState.sign_out_user(user["id"]))),
    ]


def _users() -> rx.Component:
    return _table(
        ["User", "Role", "Active", "Kind", "Teams", "Last seen", ""], AdminState.users, _user_cells
    )


def _rules() -> rx.Component:
    return rx.vstack(
        rx.text(
            "At each GitHub sign-in the strongest matching rule sets the role. "
            "People no rule matches keep their role; new people start as viewer.",
            size="2",
            color_scheme="gray",
        ),
        _table(
            ["Organisation", "Team", "Role", ""],
            AdminState.rules,
            lambda r: [
                rx.table.cell(r["org"]),
                rx.table.cell(r["team"]),
                rx.table.cell(r["role"]),
                rx.table.cell(_danger("Delete", AdminState.delete_rule(r["id"]))),
            ],
        ),
        rx.form(
            rx.hstack(
                rx.input(name="org", placeholder="GitHub organisation", required=True),
                rx.input(name="team", placeholder="team slug (optional)"),
                rx.select(AdminState.roles, name="role", default_value="viewer"),
                rx.button("Add rule", type="submit"),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=AdminState.add_rule,
            reset_on_submit=True,
        ),
        spacing="3",
        width="100%",
    )


def _teams() -> rx.Component:
    return rx.vstack(
        _table(
            ["Team", "Name", "Source", "Members", "Owns", ""],
            AdminState.teams,
            lambda t: [
                rx.table.cell(t["slug"]),
                rx.table.cell(t["name"]),
                rx.table.cell(t["source"]),
                rx.table.cell(t["members"]),
                rx.table.cell(t["repos"]),
                rx.table.cell(_danger("Delete", AdminState.delete_team(t["id"]))),
            ],
        ),
        rx.form(
            rx.hstack(
                rx.input(name="slug", placeholder="team-slug", required=True),
                rx.input(name="name", placeholder="Display name"),
                rx.button("Create team", type="submit"),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=AdminState.create_team,
            reset_on_submit=True,
        ),
        rx.form(
            rx.hstack(
                rx.select(AdminState.team_choices, name="team", placeholder="Team"),
                rx.input(name="login", placeholder="user login", required=True),
                rx.select(["add", "remove"], name="action", default_value="add"),
                rx.button("Update members", type="submit"),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=AdminState.set_member,
            reset_on_submit=True,
        ),
        rx.form(
            rx.hstack(
                rx.select(AdminState.repositories, name="repository", placeholder="Repository"),
                rx.select(AdminState.team_choices, name="team", placeholder="Team"),
                rx.button("Assign repository", type="submit"),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=AdminState.assign_repository,
        ),
        rx.form(
            rx.hstack(
                rx.select(AdminState.namespaces, name="namespace", placeholder="cluster/namespace"),
                rx.select(AdminState.team_choices, name="team", placeholder="Team"),
                rx.button("Assign namespace", type="submit"),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=AdminState.assign_namespace,
        ),
        spacing="3",
        width="100%",
    )


def _sessions() -> rx.Component:
    return _table(
        ["User", "Method", "IP", "Browser", "Started", "Last seen", ""],
        AdminState.sessions,
        lambda s: [
            rx.table.cell(s["login"]),
            rx.table.cell(s["method"]),
            rx.table.cell(s["ip"]),
            rx.table.cell(s["agent"]),
            rx.table.cell(s["started"]),
            rx.table.cell(s["last_seen"]),
            rx.table.cell(_danger("End", AdminState.revoke_session(s["id"]))),
        ],
    )


@page(routes.ADMIN, on_load=[AdminState.load, RetentionState.load])
def admin() -> rx.Component:
    return rx.cond(
        ShellState.is_admin & AdminState.loaded,
        panel(
            rx.tabs.root(
                rx.tabs.list(
                    rx.tabs.trigger("Users", value="users"),
                    rx.tabs.trigger("Role rules", value="rules"),
                    rx.tabs.trigger("Teams", value="teams"),
                    rx.tabs.trigger("Sessions", value="sessions"),
                    rx.tabs.trigger("History", value="history"),
                ),
                rx.tabs.content(_users(), value="users", padding_top="1em"),
                rx.tabs.content(_rules(), value="rules", padding_top="1em"),
                rx.tabs.content(_teams(), value="teams", padding_top="1em"),
                rx.tabs.content(_sessions(), value="sessions", padding_top="1em"),
                rx.tabs.content(history(), value="history", padding_top="1em"),
                default_value="users",
            ),
        ),
        rx.cond(ShellState.is_admin, rx.spinner(), not_allowed()),
    )
