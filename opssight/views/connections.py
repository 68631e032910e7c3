"""Settings → Connections sections: what is connected (set by environment variables, read-only,
or saved here), and the add/edit form with "Test"."""

from __future__ import annotations

from typing import NamedTuple

import reflex as rx

from opssight.state.connections import KINDS, SOURCE_KINDS, ConnectionsState
from opssight.state.setup import SetupState


class Field(NamedTuple):
    name: str
    label: str
    kind: str = "text"  # text, secret, area, secret_area, number, check, select, contexts
    hint: str = ""
    options: tuple[str, ...] = ()


NAME = Field("name", "Name", hint="How pages and the health panel call it")
ENABLED = Field("enabled", "Enabled", "check")
FIELDS: dict[str, tuple[Field, ...]] = {
    "github": (
        Field("api_url", "API URL", hint="https://api.github.com, or https://HOST/api/v3 (GHES)"),
        Field("web_url", "Web URL", hint="https://github.com, or your GHES address"),
        Field("auth", "Sign in with", "select", options=("token", "app")),
        Field("token", "Token", "secret", "A personal access token or installation token"),
        Field("app_id", "GitHub App id"),
        Field("installation_id", "Installation id", "number"),
        Field("private_key", "App private key (PEM)", "secret_area"),
        Field("repositories", "Repositories", "area", "owner/repo, one per line or comma"),
        Field("organisation", "Organisation", hint="Every repository of this organisation"),
        Field("webhook_secret", "Webhook secret", "secret", "Checks X-Hub-Signature-256"),
        ENABLED,
    ),
    "kubernetes": (
        Field("kubeconfig", "kubeconfig", "secret_area", "Or paste the kubeconfig (YAML)"),
        Field("contexts", "Contexts", "contexts"),
        Field("in_cluster", "Also watch the cluster OpsSight runs in", "check"),
        ENABLED,
    ),
    "prometheus": (
        NAME,
        Field("url", "URL", hint="http://prometheus:9090"),
        Field("username", "Basic auth user"),
        Field("password", "Basic auth password", "secret"),
        Field("token", "Bearer token", "secret"),
        ENABLED,
    ),
    "alertmanager": (
        Field("url", "Alertmanager URL", hint="Optional: tested when given"),
        Field("username", "Basic auth user"),
        Field("password", "Basic auth password", "secret"),
        Field("token", "Bearer token", "secret"),
        Field("webhook_token", "Webhook token", "secret", "Alertmanager sends it as a bearer"),
        ENABLED,
    ),
    "smtp": (
        Field("host", "SMTP host"),
        Field("port", "Port", "number"),
        Field("username", "User"),
        Field("password", "Password", "secret"),
        Field("sender", "From address"),
        ENABLED,
    ),
    "contact": (
        Field("name", "Name"),
        Field("kind", "Kind", "select", options=("slack", "webhook", "email")),
        Field("url", "Webhook URL", "secret", "Slack incoming webhook or your endpoint"),
        Field("addresses", "Email addresses", hint="Comma separated (email kind)"),
        ENABLED,
    ),
}


def _input(field: Field) -> rx.Component:
    value = ConnectionsState.values.get(field.name, "")
    saved = "•••• saved: leave blank to keep"
    common = {"name": field.name, "id": f"conn-{field.name}", "width": "100%"}
    if field.kind == "check":
        return rx.checkbox(
            field.label, default_checked=value == "yes", **common, class_name="os-conn-check"
        )
    if field.kind == "select":
        return rx.el.select(
            *[rx.el.option(option, value=option) for option in field.options],
            default_value=value,
            **common,
            class_name="os-conn-select",
        )
    if field.kind in ("area", "secret_area"):
        secret = field.kind == "secret_area"
        return rx.text_area(
            default_value="" if secret else value,
            placeholder=rx.cond(ConnectionsState.editing_id != "", saved, field.hint)
            if secret
            else field.hint,
            rows="5",
            auto_complete=False,
            spell_check=False,
            # a pasted kubeconfig: its contexts are offered (parsed on the server)
            on_blur=ConnectionsState.read_kubeconfig if field.name == "kubeconfig" else None,
            **common,
        )
    return rx.input(
        type="password" if field.kind == "secret" else "text",
        default_value="" if field.kind == "secret" else value,
        placeholder=rx.cond(ConnectionsState.editing_id != "", saved, field.hint)
        if field.kind == "secret"
        else field.hint,
        auto_complete="new-password" if field.kind == "secret" else "off",
        **common,
    )


READ_KUBECONFIG = """(() => {
const file = document.getElementById('kubeconfig-file').files[0];
if (!file) return '';
return file.text().then((text) => {
  document.getElementById('conn-kubeconfig').value = text;
  return text;
});
})()"""


def _kubeconfig_file() -> rx.Component:
    """Reads the chosen file into the kubeconfig field in the browser, and sends it to the
    server for its contexts (it is kept only on Save)."""
    return rx.vstack(
        rx.el.label("Upload a kubeconfig file", html_for="kubeconfig-file"),
        rx.el.input(
            type="file",
            id="kubeconfig-file",
            name="kubeconfig_file",
            accept=".yaml,.yml,.conf,.config,text/yaml,text/plain",
            on_change=rx.call_script(READ_KUBECONFIG, callback=ConnectionsState.read_kubeconfig),
        ),
        spacing="1",
    )


def _contexts() -> rx.Component:
    """The kubeconfig's contexts to watch: checkboxes, or every context (also those added to
    the kubeconfig later)."""
    picker = rx.vstack(
        rx.checkbox(
            "Every context, including those added to the kubeconfig later",
            checked=ConnectionsState.kube_every,
            on_change=ConnectionsState.pick_every_context,
            class_name="os-kube-every",
        ),
        rx.foreach(
            ConnectionsState.kube_contexts,
            lambda name: rx.checkbox(
                name + rx.cond(name == ConnectionsState.kube_current, " (current-context)", ""),
                checked=ConnectionsState.kube_every | ConnectionsState.kube_picked.contains(name),
                disabled=ConnectionsState.kube_every,
                on_change=lambda picked: ConnectionsState.pick_context(name, picked),
                class_name="os-kube-context",
                data_context=name,
            ),
        ),
        spacing="1",
        padding_left="2px",
    )
    return rx.vstack(
        rx.el.label("Contexts", class_name="os-conn-label"),
        rx.cond(
            ConnectionsState.kube_contexts.length() > 0,
            picker,
            rx.text(
                "Upload or paste a kubeconfig: its contexts are listed here to pick.",
                size="1",
                color_scheme="gray",
            ),
        ),
        rx.cond(
            ConnectionsState.kube_error != "",
            rx.text(ConnectionsState.kube_error, size="2", color_scheme="red", id="kube-error"),
        ),
        spacing="1",
        width="100%",
        id="kube-contexts",
    )


def _row(field: Field) -> rx.Component:
    if field.kind == "check":
        return _input(field)
    if field.kind == "contexts":
        return _contexts()
    if field.name == "kubeconfig":
        return rx.vstack(_kubeconfig_file(), _labelled(field), spacing="2", width="100%")
    return _labelled(field)


def _labelled(field: Field) -> rx.Component:
    return rx.vstack(
        rx.el.label(field.label, html_for=f"conn-{field.name}", class_name="os-conn-label"),
        _input(field),
        spacing="1",
        width="100%",
    )


def _form(kind: str) -> rx.Component:
    return rx.el.form(
        rx.vstack(
            *[_row(field) for field in FIELDS[kind]],
            rx.hstack(
                rx.button(
                    "Test connection" if kind != "contact" else "Send test",
                    type="submit",
                    variant="soft",
                    on_click=ConnectionsState.set_intent("test"),
                ),
                rx.button("Save", type="submit", on_click=ConnectionsState.set_intent("save")),
                rx.button(
                    "Cancel", type="button", variant="ghost", on_click=ConnectionsState.close
                ),
                spacing="3",
            ),
            spacing="3",
            width="100%",
            max_width="640px",
        ),
        on_submit=ConnectionsState.submit,
        key=ConnectionsState.form_key.to_string() + kind,
        id="connection-form",
    )


def editor() -> rx.Component:
    return rx.cond(
        ConnectionsState.editing != "",
        rx.card(
            rx.vstack(
                rx.heading(ConnectionsState.editing_title, size="4", class_name="os-heading"),
                rx.text(
                    "Nothing is saved until you press Save. Secrets are encrypted at rest and "
                    "never shown again.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.match(
                    ConnectionsState.editing,
                    *[(kind, _form(kind)) for kind in FIELDS],
                    rx.fragment(),
                ),
                rx.cond(
                    ConnectionsState.result != "",
                    rx.callout(
                        ConnectionsState.result,
                        icon="circle-check",
                        color_scheme="green",
                        id="connection-result",
                    ),
                ),
                rx.cond(
                    ConnectionsState.failure != "",
                    rx.callout(
                        ConnectionsState.failure,
                        icon="triangle-alert",
                        color_scheme="red",
                        id="connection-failure",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
            class_name="os-connection-editor",
        ),
    )


def _add_buttons() -> rx.Component:
    return rx.hstack(
        *[
            rx.button(
                f"Add {title}",
                size="2",
                variant="outline",
                on_click=ConnectionsState.add(kind),
            )
            for kind, title in KINDS.items()
        ],
        wrap="wrap",
        spacing="2",
    )


COLUMNS = ("Kind", "Name", "Settings", "Secrets", "State", "Changed", "")


def _environment_row(c: rx.Var) -> rx.Component:
    """A source set by environment variables: read-only, naming its variables."""
    return rx.table.row(
        rx.table.cell(c["kind_title"]),
        rx.table.cell(c["name"], weight="medium"),
        rx.table.cell(c["summary"]),
        rx.table.cell(c["secrets"]),
        rx.table.cell(
            rx.tooltip(
                rx.badge("Set by environment", color_scheme="blue", class_name="os-env-badge"),
                content="Set by " + c["variables"] + ": change them and restart OpsSight",
            )
        ),
        rx.table.cell("at start"),
        rx.table.cell(
            rx.text(
                "Read-only: " + c["variables"],
                size="1",
                color_scheme="gray",
                class_name="os-env-variables",
            )
        ),
        data_kind=c["kind"],
        data_origin="environment",
    )


def _empty() -> rx.Component:
    """Nothing saved and nothing set by the environment."""
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(
                    rx.cond(
                        ConnectionsState.demo,
                        "No connections yet — demo data is shown until a source is connected.",
                        "No connections yet — demo data is off (OPSSIGHT_DEMO=0), so pages stay "
                        "empty until a source is connected.",
                    ),
                    weight="medium",
                ),
                rx.text(
                    "Add one here (Test connection checks it before you save), or set its "
                    "OPSSIGHT_* environment variables (see .env.example) and restart.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.hstack(
                    *[
                        rx.button(
                            f"Connect {KINDS[kind]}",
                            size="1",
                            on_click=ConnectionsState.add(kind),
                        )
                        for kind in SOURCE_KINDS
                    ],
                    wrap="wrap",
                    spacing="2",
                ),
                spacing="2",
                padding_y="var(--space-2)",
            ),
            col_span=len(COLUMNS),
        ),
        id="connections-empty",
    )


def saved() -> rx.Component:
    return rx.vstack(
        _add_buttons(),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in COLUMNS])),
            rx.table.body(
                rx.cond(ConnectionsState.nothing_connected, _empty()),
                rx.foreach(ConnectionsState.environment, _environment_row),
                rx.foreach(
                    ConnectionsState.saved,
                    lambda c: rx.table.row(
                        rx.table.cell(c["kind_title"]),
                        rx.table.cell(c["name"], weight="medium"),
                        rx.table.cell(c["summary"]),
                        rx.table.cell(c["secrets"]),
                        rx.table.cell(rx.badge(c["state"])),
                        rx.table.cell(c["updated"]),
                        rx.table.cell(
                            rx.hstack(
                                rx.button(
                                    "Edit",
                                    size="1",
                                    variant="soft",
                                    on_click=ConnectionsState.edit(c["kind"], c["id"]),
                                ),
                                rx.switch(
                                    checked=c["enabled"] == "yes",
                                    on_change=lambda on: ConnectionsState.set_enabled(c["id"], on),
                                    aria_label="Enabled: " + c["name"],
                                ),
                                rx.button(
                                    "Delete",
                                    size="1",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=ConnectionsState.delete(c["id"]),
                                ),
                                align="center",
                            )
                        ),
                        data_kind=c["kind"],
                        data_origin="settings",
                    ),
                ),
            ),
            width="100%",
            size="1",
            id="connections-table",
        ),
        rx.heading("Contact points", size="3", class_name="os-heading"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[rx.table.column_header_cell(h) for h in ("Name", "Kind", "Sends to", "")]
                )
            ),
            rx.table.body(
                rx.foreach(
                    ConnectionsState.points,
                    lambda p: rx.table.row(
                        rx.table.cell(p["name"], weight="medium"),
                        rx.table.cell(p["kind"]),
                        rx.table.cell(p["target"]),
                        rx.table.cell(
                            rx.hstack(
                                rx.button(
                                    "Edit",
                                    size="1",
                                    variant="soft",
                                    on_click=ConnectionsState.edit("contact", p["id"]),
                                ),
                                rx.button(
                                    "Delete",
                                    size="1",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=ConnectionsState.delete_point(p["id"]),
                                ),
                            )
                        ),
                    ),
                )
            ),
            width="100%",
            size="1",
            id="contact-points-table",
        ),
        _ansible_tokens(),
        spacing="4",
        width="100%",
    )


def _ansible_tokens() -> rx.Component:
    return rx.vstack(
        rx.heading("Ansible ingest tokens", size="3", class_name="os-heading"),
        rx.text(
            "The OpsSight callback sends one as OPSSIGHT_ANSIBLE_TOKEN. Only its hash is kept: "
            "copy it now, it is shown once.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            ConnectionsState.new_token != "",
            rx.callout(
                rx.hstack(
                    rx.code(ConnectionsState.new_token, id="new-token"),
                    rx.button("Done", size="1", on_click=ConnectionsState.dismiss_token),
                    align="center",
                    wrap="wrap",
                ),
                icon="key-round",
                color_scheme="green",
            ),
        ),
        rx.el.form(
            rx.hstack(
                rx.input(
                    name="token_name", placeholder="Token name, e.g. ci-runner", required=True
                ),
                rx.button("Create token", type="submit"),
            ),
            on_submit=ConnectionsState.create_token,
            reset_on_submit=True,
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Name", "Created", "Last used", "Revoked", "")
                    ]
                )
            ),
            rx.table.body(
                rx.foreach(
                    ConnectionsState.tokens,
                    lambda t: rx.table.row(
                        rx.table.cell(t["name"], weight="medium"),
                        rx.table.cell(t["created"]),
                        rx.table.cell(t["used"]),
                        rx.table.cell(t["revoked"]),
                        rx.table.cell(
                            rx.cond(
                                t["revoked"] == "",
                                rx.button(
                                    "Revoke",
                                    size="1",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=ConnectionsState.revoke_token(t["id"]),
                                ),
                            )
                        ),
                    ),
                )
            ),
            width="100%",
            size="1",
            id="ansible-tokens-table",
        ),
        spacing="2",
        width="100%",
    )


def setup_checklist() -> rx.Component:
    """Overview's "Connect your sources" list while demo data is shown."""
    return rx.cond(
        SetupState.show,
        rx.card(
            rx.vstack(
                rx.heading("Connect your sources", size="4", class_name="os-heading"),
                rx.text(
                    "An administrator connects each source in Settings → Connections; the demo "
                    "data goes away once a real source is connected.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.foreach(
                    SetupState.steps,
                    lambda s: rx.hstack(
                        rx.icon(
                            rx.cond(s["done"] == "yes", "circle-check", "circle"),
                            color=rx.cond(s["done"] == "yes", "var(--green-9)", "var(--gray-9)"),
                            size=18,
                        ),
                        rx.link(s["title"], href=s["href"]),
                        rx.cond(s["done"] == "yes", rx.badge("connected", color_scheme="green")),
                        align="center",
                        data_kind=s["kind"],
                    ),
                ),
                spacing="2",
            ),
            id="setup-checklist",
            width="100%",
        ),
    )
