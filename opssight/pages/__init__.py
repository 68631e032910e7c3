"""One module per route; importing this package registers every page."""

from opssight.pages import (
    admin,
    alert,
    alerts,
    audit,
    automation,
    connections,
    dora,
    kubernetes,
    login,
    metrics,
    overview,
    password,
    pipelines,
    settings,
    timeline,
)

__all__ = [
    "admin",
    "alert",
    "alerts",
    "audit",
    "automation",
    "connections",
    "dora",
    "kubernetes",
    "login",
    "metrics",
    "overview",
    "password",
    "pipelines",
    "settings",
    "timeline",
]
