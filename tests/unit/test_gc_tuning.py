"""The serving worker's collector settings, checked in a fresh interpreter (never this one)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from opssight import gc_tuning

_, middle, oldest = gc.get_threshold()
gc_tuning.tune()
frozen = gc.get_freeze_count()
made_later = [[] for _ in range(1000)]
gc_tuning.tune()
print(gc.get_threshold() == (gc_tuning.YOUNG_GENERATION, middle, oldest))
print(frozen > 1000, gc.get_freeze_count() == frozen)
"""


def test_tune_freezes_start_up_once_and_collects_the_young_generation_less_often() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "True"], done.stdout
