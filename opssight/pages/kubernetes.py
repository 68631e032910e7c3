"""``/kubernetes``: clusters, problems and their objects, live."""

import reflex as rx

from opssight import routes
from opssight.state.kubernetes import KubernetesState
from opssight.templates.shell import page
from opssight.views.kubernetes import clusters, filters, pod_detail, problems, table


@page(routes.KUBERNETES, on_load=[KubernetesState.load])
def kubernetes() -> rx.Component:
    return rx.vstack(
        rx.cond(
            KubernetesState.error != "",
            rx.callout(KubernetesState.error, icon="triangle-alert", color_scheme="red"),
        ),
        clusters(),
        problems(),
        filters(),
        pod_detail(),
        table(),
        spacing="5",
        width="100%",
    )
