"""Run ``ansible-playbook`` (ansible-core from this environment) on two local hosts with the
OpsSight callback enabled the documented way: ``ANSIBLE_CALLBACK_PLUGINS`` set to
``opssight ansible-callback-path``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from opssight.ansible import callback_path

PLAYBOOKS = Path(__file__).resolve().parent / "fixtures" / "ansible"
TOKEN = "ansible-ingest-token-for-tests-0123456789"


def playbook_command(tmp_path: Path, url: str, playbook: str, *args: str, token: str = TOKEN,
                     **env_extra: str) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    """The command line and environment (hosts web-1 and web-2 in group ``web``)."""
    inventory = tmp_path / "inventory.ini"
    python = sys.executable
    inventory.write_text(
        "[web]\n"
        f"web-1 ansible_connection=local ansible_python_interpreter={python}\n"
        f"web-2 ansible_connection=local ansible_python_interpreter={python}\n"
    )
    (tmp_path / "markers").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSSIGHT_", "ANSIBLE_"))}
    env |= {
        "ANSIBLE_CALLBACK_PLUGINS": callback_path(),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "OPSSIGHT_URL": url,
        "OPSSIGHT_ANSIBLE_TOKEN": token,
        "OPSSIGHT_ANSIBLE_SPOOL_DIR": str(tmp_path / "spool"),
        **env_extra,
    }
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
        str(PLAYBOOKS / playbook), "-e", f"marker_dir={tmp_path / 'markers'}",
        "-e", "db_password=hunter2", *args,
    ]  # fmt: skip
    return command, env


def ansible_playbook(tmp_path: Path, url: str, playbook: str, *args: str, token: str = TOKEN,
                     **env_extra: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
    command, env = playbook_command(tmp_path, url, playbook, *args, token=token, **env_extra)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
