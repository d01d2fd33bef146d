"""The README and the pages under docs/ hold together: every relative link resolves to a file
that exists (and its anchor to a heading), and the README stays short enough to read in a few
minutes, in the order its readers need: pytest, CI, by hand, then the reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target); the target ends at whitespace or the closing bracket
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def relative_links(page: Path) -> list[str]:
    """Link targets outside code blocks that name a file (no scheme, not only an anchor)."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file(page: Path):
    missing = [t for t in relative_links(page)
               if not (page.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces made hyphens."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text(encoding="utf-8")), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_anchor_names_a_heading(page: Path):
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    wrong = []
    for target in LINK.findall(text):
        name, _, anchor = target.partition("#")
        if anchor and not re.match(r"[a-z][a-z0-9+.-]*:", target):
            dest = page.parent / name if name else page
            if dest.suffix == ".md" and dest.exists() and anchor not in anchors(dest):
                wrong.append(target)
    assert not wrong, f"{page.relative_to(ROOT)} links to headings that do not exist: {wrong}"


def test_the_link_check_sees_links():
    links = relative_links(ROOT / "README.md")
    assert "docs/openmarket.md" in links and "docs/screenshots/list.png" in links


def test_every_docs_page_is_linked_from_the_readme():
    linked = {t.split("#", 1)[0] for t in relative_links(ROOT / "README.md")}
    pages = {f"docs/{p.name}" for p in PAGES[1:]}
    assert pages <= linked, f"not linked from the README: {sorted(pages - linked)}"


def test_the_readme_reads_in_a_few_minutes():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move detail to a page under docs/"


def test_the_readme_is_ordered_for_its_readers():
    headings = re.findall(r"^## (.+)$", FENCE.sub("", (ROOT / "README.md").read_text()), re.M)
    order = ["Quick start", "In your pytest suite", "As a service in CI", "Exploring by hand",
             "Reference"]
    assert [h for h in headings if h in order] == order  # other sections may sit between
