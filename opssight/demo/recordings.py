"""Load the recorded payloads shipped with the package."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

RECORDINGS = Path(__file__).resolve().parent / "recordings"


@cache
def load(name: str) -> Any:
    """A recording: JSON, YAML (``.yaml``) or a list of JSON lines (``.jsonl``)."""
    text = (RECORDINGS / name).read_text()
    if name.endswith(".yaml"):
        return yaml.safe_load(text)
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)
