"""One module per route; importing this package registers every page."""

from opssight.pages import admin, dora, feeds, overview, pipelines, settings

__all__ = ["admin", "dora", "feeds", "overview", "pipelines", "settings"]
