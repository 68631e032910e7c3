"""One module per route; importing this package registers every page."""

from opssight.pages import (
    admin,
    audit,
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
    "audit",
    "dora",
    "feeds",
    "kubernetes",
    "login",
    "metrics",
    "overview",
    "pipelines",
    "settings",
]
