"""Theme controls: variant select, color-mode switch, hue slider and variant previews."""

from __future__ import annotations

import reflex as rx

from opssight.schemas.theme import COLOR_MODES, VARIANTS
from opssight.state.theme import RADIX_PROPS, ThemeState

MODE_ICONS = {"light": "sun", "dark": "moon", "system": "monitor", "high-contrast": "contrast"}
VARIANT_BLURBS = {
    "minimal": "Muted primary, generous spacing, no borders.",
    "neo-brutalist": "Black primary, thick borders, hard shadows, yellow accent.",
    "glassmorphic": "Translucent panels with backdrop blur.",
    "cyberpunk": "Near-black, neon cyan and magenta, glow.",
    "editorial": "Serif headings, 65ch text, generous line height.",
    "accessible": "Strong contrast, 44px targets, 3px focus rings.",
    "dynamic": "Your accent hue, with its complement.",
}


def variant_select() -> rx.Component:
    return rx.select(
        list(VARIANTS),
        value=ThemeState.variant,
        on_change=ThemeState.choose_variant,
        size="2",
        aria_label="Theme variant",
        class_name="os-variant-select",
    )


def mode_switch() -> rx.Component:
    return rx.segmented_control.root(
        *[
            rx.segmented_control.item(
                rx.tooltip(rx.icon(MODE_ICONS[mode], size=14), content=mode),
                value=mode,
                aria_label=f"{mode} mode",
                data_mode_option=mode,
            )
            for mode in COLOR_MODES
        ],
        value=ThemeState.mode,
        on_change=ThemeState.choose_mode,
        size="1",
        class_name="os-mode-switch",
    )


def hue_slider() -> rx.Component:
    return rx.hstack(
        rx.text("Accent hue", size="2"),
        rx.slider(
            default_value=[210],
            value=[ThemeState.hue_value],
            min=0,
            max=360,
            step=1,
            on_value_commit=ThemeState.choose_hue,
            width="16em",
            aria_label="Accent hue",
        ),
        rx.text(ThemeState.hue_value, "°", size="2", class_name="os-hue-value"),
        align="center",
        spacing="3",
    )


def _preview(variant: str) -> rx.Component:
    accent, gray, radius, scaling = RADIX_PROPS[variant]
    return rx.theme(
        rx.box(
            rx.card(
                rx.vstack(
                    rx.heading(variant, size="3", class_name="os-heading"),
                    rx.text(VARIANT_BLURBS[variant], size="1"),
                    rx.button("Choose", size="1", on_click=ThemeState.choose_variant(variant)),
                    spacing="2",
                    align="start",
                ),
                class_name="os-card",
            ),
            class_name="os-preview",
            data_selected=ThemeState.variant == variant,
        ),
        accent_color=accent,
        gray_color=gray,
        radius=radius,
        scaling=scaling,
        has_background=False,
        custom_attrs={"data-variant": variant, "data-mode": ThemeState.mode},
        class_name="dark" if variant == "cyberpunk" else ThemeState.mode_class,
    )


def variant_previews() -> rx.Component:
    return rx.grid(
        *[_preview(variant) for variant in VARIANTS],
        columns=rx.breakpoints(initial="1", sm="2", lg="4"),
        spacing="4",
        class_name="os-previews",
    )
