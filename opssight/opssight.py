"""The Reflex app: pages from the registry, the HTTP API, the jobs' lifespan, logging."""

import reflex as rx
from reflex_base import otel

from opssight import gc_tuning, logs, pages, tracing
from opssight.api import create_api
from opssight.config import get_settings
from opssight.jobs.runner import lifespan
from opssight.templates.shell import PAGES, shell_on_load

settings = get_settings()
logs.configure(settings.log_level, settings.log_json)

app = rx.App(
    api_transformer=create_api(),
    stylesheets=["/theme.css"],
    head_components=[rx.el.link(rel="icon", href="/favicon.ico")],
)
app.register_lifespan_task(lifespan)
app.register_lifespan_task(gc_tuning.tune)  # after the jobs' start-up (migrations)
if tracing.provider() is not None:  # set up by create_api: Reflex's event handlers traced too
    otel.enable(tracer_provider=tracing.provider())
    app.register_lifespan_task(tracing.lifespan)

for registered in PAGES:
    app.add_page(
        registered.component,
        route=registered.route.path,
        title=f"{registered.route.title} · OpsSight",
        on_load=[*shell_on_load(registered.bare), *registered.on_load],
    )

__all__ = ["app", "pages"]
