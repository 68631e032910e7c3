"""Kubernetes page sections: cluster cards, problems, filters, the tables and a pod's detail."""

from __future__ import annotations

import reflex as rx

from opssight.components.cards import panel
from opssight.components.status import demo_badge, status_badge
from opssight.components.tables import rows_table
from opssight.state.inputs import ALL
from opssight.state.kubernetes import KubernetesState as K


def _cluster_card(cluster: rx.Var[dict[str, str]]) -> rx.Component:
    return panel(
        rx.vstack(
            rx.hstack(
                rx.heading(cluster["name"], size="4", class_name="os-heading"),
                rx.spacer(),
                rx.cond(cluster["demo"] != "", demo_badge()),
                status_badge(cluster["state"]),
                align="center",
                width="100%",
            ),
            rx.text(cluster["server"], size="1", color_scheme="gray"),
            rx.cond(
                cluster["error"] != "",
                rx.callout(cluster["error"], icon="triangle-alert", color_scheme="red", size="1"),
            ),
            rx.text(cluster["nodes"], size="2"),
            rx.text("Pods: ", cluster["pods"], size="2"),
            rx.text("CPU: ", cluster["cpu"], " · used ", cluster["cpu_used"], size="2"),
            rx.text("Memory: ", cluster["memory"], " · used ", cluster["memory_used"], size="2"),
            rx.text(cluster["problems"], " open problems · checked ", cluster["checked"], size="1"),
            spacing="1",
            width="100%",
        ),
        class_name="os-cluster",
        data_cluster=cluster["name"],
    )


def clusters() -> rx.Component:
    return rx.cond(
        K.clusters.length() > 0,
        rx.grid(
            rx.foreach(K.clusters, _cluster_card),
            columns=rx.breakpoints(initial="1", md="2", xl="3"),
            spacing="4",
            width="100%",
        ),
        rx.callout(
            rx.cond(
                K.loaded,
                "No cluster yet: set OPSSIGHT_KUBECONFIG (every context is a cluster) or run "
                "OpsSight in a pod.",
                "Loading…",
            ),
            icon="boxes",
            color_scheme="gray",
        ),
    )


def problems() -> rx.Component:
    return panel(
        rx.vstack(
            rx.heading("Problems", size="4", class_name="os-heading"),
            rx.cond(
                K.problems.length() > 0,
                rows_table(
                    [
                        "Problem",
                        "Object",
                        "Namespace",
                        "Cluster",
                        "Why",
                        "Since",
                        "Last deploy",
                        "",
                    ],
                    K.problems,
                    lambda p: [
                        rx.table.cell(rx.badge(p["kind"], color_scheme="red", variant="soft")),
                        rx.table.cell(p["object"]),
                        rx.table.cell(p["namespace"]),
                        rx.table.cell(p["cluster"]),
                        rx.table.cell(
                            rx.vstack(
                                rx.text(p["reason"], weight="medium", size="2"),
                                rx.text(p["message"], size="1", color_scheme="gray"),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(p["since"]),
                        rx.table.cell(p["deploy"]),
                        rx.table.cell(
                            rx.link(
                                "What changed before this?",
                                href="/timeline?problem=" + p["id"],
                                size="1",
                                class_name="os-changed-before",
                            )
                        ),
                    ],
                    class_name="os-problem",
                ),
                rx.text("No problem found in the clusters.", color_scheme="gray", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-problems",
    )


def filters() -> rx.Component:
    return rx.flex(
        rx.segmented_control.root(
            rx.segmented_control.item("Pods", value="pods"),
            rx.segmented_control.item("Workloads", value="workloads"),
            rx.segmented_control.item("Nodes", value="nodes"),
            rx.segmented_control.item("Warnings", value="events"),
            value=K.tab,
            on_change=K.choose_tab,
            aria_label="Table",
        ),
        rx.select(
            rx.Var.create([ALL]) + K.cluster_names,
            value=rx.cond(K.cluster == "", ALL, K.cluster),
            on_change=K.choose_cluster,
            aria_label="Cluster",
        ),
        rx.cond(
            K.teams.length() > 0,
            rx.select(
                rx.Var.create([ALL]) + K.teams,
                value=rx.cond(K.team == "", ALL, K.team),
                on_change=K.choose_team,
                aria_label="Team",
            ),
        ),
        rx.select(
            rx.Var.create([ALL]) + K.namespaces,
            value=rx.cond(K.namespace == "", ALL, K.namespace),
            on_change=K.choose_namespace,
            aria_label="Namespace",
        ),
        rx.debounce_input(
            rx.input(
                placeholder="Search name, image, node, reason…",
                value=K.search,
                on_change=K.search_for,
                width="18em",
                aria_label="Search",
                class_name="os-kube-search",
            ),
            debounce_timeout=300,
        ),
        gap="3",
        wrap="wrap",
        align="center",
    )


def _pods():
    return rows_table(
        ["Pod", "Namespace", "Status", "Ready", "Restarts", "Node", "Age", "Cluster"],
        K.rows,
        lambda r: [
            rx.table.cell(
                rx.link(r["name"], on_click=K.open_pod(r["cluster"], r["namespace"], r["name"]))
            ),
            rx.table.cell(r["namespace"]),
            rx.table.cell(
                status_badge(r["state"], rx.cond(r["reason"] != "", r["reason"], r["phase"]))
            ),
            rx.table.cell(r["ready"]),
            rx.table.cell(r["restarts"]),
            rx.table.cell(r["node"]),
            rx.table.cell(r["age"]),
            rx.table.cell(r["cluster"]),
        ],
        class_name="os-pod-row",
    )


def _workloads():
    return rows_table(
        ["Workload", "Kind", "Namespace", "Ready", "Rollout", "Images", "Age", "Cluster"],
        K.rows,
        lambda r: [
            rx.table.cell(r["name"]),
            rx.table.cell(r["kind"]),
            rx.table.cell(r["namespace"]),
            rx.table.cell(r["ready"]),
            rx.table.cell(status_badge(r["rollout"])),
            rx.table.cell(rx.text(r["images"], size="1")),
            rx.table.cell(r["age"]),
            rx.table.cell(r["cluster"]),
        ],
        class_name="os-workload-row",
    )


def _nodes():
    return rows_table(
        ["Node", "Status", "Roles", "Version", "CPU", "Memory", "Pods", "Age", "Cluster"],
        K.rows,
        lambda r: [
            rx.table.cell(r["name"]),
            rx.table.cell(status_badge(r["status"])),
            rx.table.cell(r["roles"]),
            rx.table.cell(r["version"]),
            rx.table.cell(r["cpu"]),
            rx.table.cell(r["memory"]),
            rx.table.cell(r["pods"]),
            rx.table.cell(r["age"]),
            rx.table.cell(r["cluster"]),
        ],
        class_name="os-node-row",
    )


def _events(rows=K.rows):
    return rows_table(
        ["Object", "Namespace", "Reason", "Message", "Count", "Last seen", "Cluster"],
        rows,
        lambda r: [
            rx.table.cell(r["object"]),
            rx.table.cell(r["namespace"]),
            rx.table.cell(rx.badge(r["reason"], color_scheme="amber", variant="soft")),
            rx.table.cell(rx.text(r["message"], size="1")),
            rx.table.cell(r["count"]),
            rx.table.cell(r["last_seen"]),
            rx.table.cell(r["cluster"]),
        ],
        class_name="os-event-row",
    )


def table() -> rx.Component:
    return panel(
        rx.vstack(
            rx.cond(
                K.total > 0,
                rx.match(
                    K.tab,
                    ("workloads", _workloads()),
                    ("nodes", _nodes()),
                    ("events", _events()),
                    _pods(),
                ),
                rx.text(
                    rx.cond(K.loaded, "Nothing matches these filters.", "Loading…"),
                    color_scheme="gray",
                ),
            ),
            rx.hstack(
                rx.text(K.total, " rows · page ", K.page, " of ", K.pages, size="2"),
                rx.spacer(),
                rx.button(
                    "Previous", variant="soft", on_click=K.go_to_page(-1), disabled=K.page <= 1
                ),
                rx.button(
                    "Next", variant="soft", on_click=K.go_to_page(1), disabled=K.page >= K.pages
                ),
                align="center",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        class_name="os-kube-table",
    )


def _container(c: rx.Var[dict[str, str]]) -> list[rx.Component]:
    return [
        rx.table.cell(c["name"]),
        rx.table.cell(rx.text(c["image"], size="1")),
        rx.table.cell(c["state"], " ", c["reason"]),
        rx.table.cell(c["ready"]),
        rx.table.cell(c["restarts"]),
        rx.table.cell(c["last"]),
        rx.table.cell(
            rx.cond(
                K.can_read_logs,
                rx.hstack(
                    rx.button(
                        "Logs", size="1", variant="soft", on_click=K.show_logs(c["name"], False)
                    ),
                    rx.button(
                        "Previous", size="1", variant="soft", on_click=K.show_logs(c["name"], True)
                    ),
                ),
                rx.text("logs: developers and admins", size="1", color_scheme="gray"),
            )
        ),
    ]


def pod_detail() -> rx.Component:
    return rx.cond(
        K.pod.contains("phase"),
        panel(
            rx.vstack(
                rx.hstack(
                    rx.heading(K.pod["namespace"], "/", K.pod["name"], size="4"),
                    status_badge(
                        K.pod["state"],
                        rx.cond(K.pod["reason"] != "", K.pod["reason"], K.pod["phase"]),
                    ),
                    rx.spacer(),
                    rx.button("Close", variant="soft", on_click=K.close_pod),
                    align="center",
                    width="100%",
                ),
                rx.text(
                    K.pod["phase"],
                    " · node ",
                    K.pod["node"],
                    " · owner ",
                    K.pod["owner"],
                    " · ",
                    K.pod["cluster"],
                    size="2",
                ),
                rx.text(K.pod["labels"], size="1", color_scheme="gray"),
                rows_table(
                    ["Container", "Image", "State", "Ready", "Restarts", "Last termination", ""],
                    K.containers,
                    _container,
                ),
                rx.cond(K.pod_events.length() > 0, _events(K.pod_events)),
                rx.cond(
                    K.logs_error != "",
                    rx.callout(K.logs_error, icon="shield-alert", color_scheme="amber"),
                ),
                rx.cond(
                    K.logs != "",
                    rx.code_block(K.logs, language="log", class_name="os-pod-logs", width="100%"),
                ),
                spacing="3",
                width="100%",
            ),
            class_name="os-pod-detail",
        ),
    )
