"""Reflex configuration, built from OpsSight's Settings (the only reader of the environment)."""

import reflex as rx

from opssight.config import get_settings

settings = get_settings()

config = rx.Config(
    app_name="opssight",
    redis_url=settings.redis_url,
    telemetry_enabled=False,
    trusted_proxy_hops=settings.proxy_hops,  # the websocket's client_ip, as the API's limits
    show_built_with_reflex=False,
    cors_allowed_origins=[
        settings.public_url,
        f"http://localhost:{settings.port}",
        f"http://127.0.0.1:{settings.port}",
    ],
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="inherit", accent_color="indigo", has_background=True)
        ),
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
