"""One module per route; importing this package registers every page."""

from opssight.pages import admin, feeds, overview, settings

__all__ = ["admin", "feeds", "overview", "settings"]
