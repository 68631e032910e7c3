"""The user guide cannot rot silently: its links, anchors, pictures and variable names hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opssight.config import ENV_PREFIX, Settings
from tests.support import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _prose(path: Path) -> str:
    """The page without its code blocks (links and headings inside them are not real)."""
    return FENCE.sub("", path.read_text())


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", _prose(path), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(path: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(path)) if not re.match(r"[a-z]+:", t)]


def _resolves(page: Path, target: str) -> bool:
    """The file exists and, for a Markdown page, so does the heading the anchor names."""
    file, _, anchor = target.partition("#")
    resolved = (page.parent / file).resolve() if file else page
    if not resolved.exists():
        return False
    return not anchor or resolved.suffix != ".md" or anchor in _anchors(resolved)


def test_the_guide_has_pages():
    assert DOCS / "README.md" in PAGES and len(PAGES) > 5


@pytest.mark.parametrize("page", [*PAGES, ROOT / "README.md"], ids=lambda p: p.name)
def test_every_relative_link_and_picture_resolves(page: Path):
    broken = [target for target in _links(page) if not _resolves(page, target)]
    assert broken == [], f"{page.name}: {broken}"


def test_every_picture_is_shown_and_comes_from_the_guide_test():
    shown = {
        (page.parent / target).resolve()
        for page in PAGES
        for target in _links(page)
        if target.endswith(".png")
    }
    pictures = set((DOCS / "images").glob("*.png"))
    assert pictures, "no screenshots: run tests/e2e/test_user_guide.py"
    assert {p.resolve() for p in pictures} <= shown, "pictures no page shows"
    taker = (ROOT / "tests" / "e2e" / "test_user_guide.py").read_text()
    names = set(re.findall(r'shoot\(\w+, "([\w-]+)"', taker))
    themes = {f"theme-{v}-{m}" for v, m in re.findall(r'\("([\w-]+)", "([\w-]+)", "/', taker)}
    assert {p.stem for p in pictures} <= names | themes, "pictures no test takes"


def test_readme_links_the_guide_and_shows_a_screenshot():
    text = (ROOT / "README.md").read_text()
    assert "(docs/README.md)" in text
    assert re.search(r"!\[[^\]]*\]\(docs/images/[\w-]+\.png\)", text)


def test_install_page_quotes_the_readmes_two_commands():
    readme = re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())[:2]
    install = (DOCS / "install.md").read_text()
    for command in readme:
        assert f"```bash\n{command}\n```" in install


def test_every_variable_named_in_the_guide_exists():
    fields = Settings.model_fields.items()
    known = {ENV_PREFIX + name.upper() for name, f in fields if f.validation_alias is None}
    callback = (ROOT / "opssight" / "ansible" / "callback" / "opssight.py").read_text()
    known |= set(re.findall(rf"env: \[{{name: ({ENV_PREFIX}\w+)}}\]", callback))  # its options
    pattern = rf"{ENV_PREFIX}[A-Z0-9_]*[A-Z0-9]"
    named = {n for page in PAGES for n in re.findall(pattern, page.read_text())}
    assert named - known == set()
