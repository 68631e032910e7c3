"""One module per route; importing this package registers every page."""

from opssight.pages import (
    admin,
    alert,
    alerts,
    audit,
    connections,
    dora,
    feeds,
    kubernetes,
    login,
    metrics,
    overview,
    pipelines,
    settings,
)

__all__ = [
    "admin",
    "alert",
    "alerts",
    "audit",
    "connections",
    "dora",
    "feeds",
    "kubernetes",
    "login",
    "metrics",
    "overview",
    "pipelines",
    "settings",
]
