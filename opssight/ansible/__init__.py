"""The Ansible callback plugin shipped with OpsSight: ``opssight ansible-callback-path`` prints
the folder to put in ``ANSIBLE_CALLBACK_PLUGINS``."""

from __future__ import annotations

from pathlib import Path

CALLBACK_DIR = Path(__file__).resolve().parent / "callback"


def callback_path() -> str:
    """The folder holding ``opssight.py`` (the callback named ``opssight``)."""
    return str(CALLBACK_DIR)
