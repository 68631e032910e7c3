"""House rules a green run must keep: README commands, layering, lint and format."""

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

REFLEX_FREE = ["services", "integrations", "schemas", "models", "jobs", "demo", "api"]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    run, test = readme_commands()
    assert "opssight run" in run and "pip install" in run
    assert "pytest" in test and "'.[test]'" in test
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci_lines


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_ui_layers_import_reflex():
    offenders = [
        str(path.relative_to(ROOT))
        for folder in REFLEX_FREE
        for path in (ROOT / "opssight" / folder).rglob("*.py")
        if "reflex" in _imports(path)
    ]
    assert offenders == []


def test_ruff_check_and_format_are_clean():
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run([*ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [*ruff, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout
