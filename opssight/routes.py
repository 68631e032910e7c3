"""Every page's route, title and icon in one registry; the sidebar is built from it."""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    path: str
    title: str
    icon: str
    section: str = "Observe"
    admin_only: bool = False  # shown in the sidebar to admins only (the page refuses others)


OVERVIEW = Route("/", "Overview", "layout-dashboard")
PIPELINES = Route("/pipelines", "Pipelines", "git-branch")
DORA = Route("/dora", "DORA", "gauge")
KUBERNETES = Route("/kubernetes", "Kubernetes", "boxes")
METRICS = Route("/metrics-explorer", "Metrics", "chart-line")
ALERTS = Route("/alerts", "Alerts", "bell-ring")
ALERT = Route("/alerts/[alert_id]", "Alert history", "bell-ring")  # from Alerts
AUTOMATION = Route("/automation", "Automation", "bot")
AUTOMATION_HOSTS = Route("/automation/hosts", "Ansible hosts", "server")  # from Automation
TIMELINE = Route("/timeline", "Timeline", "history")
SETTINGS = Route("/settings", "Settings", "settings", "Manage")
PASSWORD = Route("/settings/password", "Change password", "key-round", "Manage")  # user menu
CONNECTIONS = Route("/settings/connections", "Connections", "plug", "Manage", admin_only=True)
ADMIN = Route("/admin", "Admin", "shield", "Manage", admin_only=True)
AUDIT = Route("/audit", "Audit log", "scroll-text", "Manage", admin_only=True)
LOGIN = Route("/login", "Sign in", "log-in", "Account")

SIDEBAR: tuple[Route, ...] = (
    OVERVIEW,
    PIPELINES,
    DORA,
    KUBERNETES,
    METRICS,
    ALERTS,
    AUTOMATION,
    TIMELINE,
    SETTINGS,
    CONNECTIONS,
    ADMIN,
    AUDIT,
)
