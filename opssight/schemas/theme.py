"""Theme choices: 7 variants x 4 color modes, plus the accent hue of the dynamic variant."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

ThemeVariant = Literal[
    "minimal", "neo-brutalist", "glassmorphic", "cyberpunk", "editorial", "accessible", "dynamic"
]
ColorMode = Literal["light", "dark", "system", "high-contrast"]

VARIANTS: tuple[str, ...] = get_args(ThemeVariant)
COLOR_MODES: tuple[str, ...] = get_args(ColorMode)


class ThemePreference(BaseModel):
    variant: ThemeVariant = "minimal"
    mode: ColorMode = "system"
    hue: int = Field(default=210, ge=0, le=360)
