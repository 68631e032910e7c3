"""One module per route; importing this package registers every page."""

from opssight.pages import admin, feeds, overview, pipelines, settings

__all__ = ["admin", "feeds", "overview", "pipelines", "settings"]
