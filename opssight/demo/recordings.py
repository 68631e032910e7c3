"""Load the recorded payloads shipped with the package."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).resolve().parent / "recordings"


@cache
def load(name: str) -> Any:
    return json.loads((RECORDINGS / name).read_text())
