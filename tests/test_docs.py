"""The documentation holds together: every relative link resolves, and the README stays a front door.

A link is checked where a reader would follow it: a relative path must name a file or folder of
the repository, and a ``#anchor`` into a Markdown file must name one of its headings (GitHub's
rule: lower case, punctuation dropped, spaces to hyphens, ``-1``, ``-2``... for repeats) or an
explicit ``<a id="...">``. Links inside code (fenced blocks, inline spans) are text, not links.
Absolute URLs are not fetched (the tests run offline).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_LIMIT = 12 * 1024
"""The README is a front door: what the course is, how to start, where the rest lives (issue 19)."""

DOCUMENTS = sorted({
    ROOT / "README.md",
    ROOT / "README.zh-CN.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "data" / "README.md",
    ROOT / "benchmarks" / "RESULTS.md",
    *(ROOT / "docs").glob("*.md"),
})

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[`~]*[ \t]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)", re.M)
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.I)


def prose(text: str) -> str:
    """``text`` without code blocks, inline code and HTML comments (blanked, so nothing there is a link)."""
    for pattern in (_FENCE, _COMMENT, _INLINE_CODE):
        text = pattern.sub(" ", text)
    return text


def links(text: str) -> list[str]:
    """Every link target in Markdown ``text``: inline links, images and reference definitions."""
    text = prose(text)
    found = [m.group(1).strip("<>") for m in _INLINE_LINK.finditer(text)]
    return found + _REFERENCE.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors a Markdown file offers: one per heading (repeats numbered), and explicit ones."""
    seen: dict[str, int] = {}
    found = set(_HTML_ANCHOR.findall(text))
    for match in _HEADING.finditer(_FENCE.sub(" ", text)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with each relative link of the Markdown file ``path``, one line each."""
    problems = []
    for target in links(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:...: not fetched
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: ({target})"
        if root.resolve() not in [resolved, *resolved.parents]:
            problems.append(f"{where} leaves the repository")
        elif not resolved.exists():
            problems.append(f"{where}: there is no {file_part}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            problems.append(f"{where}: {resolved.name} has no heading with the anchor #{anchor}")
    return problems


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    assert not broken_links(path), "\n".join(broken_links(path))


def test_the_readme_is_a_front_door():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, (
        f"README.md is {size:,} bytes, over {README_LIMIT:,}: move the detail to docs/ or "
        "benchmarks/RESULTS.md and link to it")


def test_every_page_of_docs_is_linked_from_its_index():
    index = ROOT / "docs" / "README.md"
    linked = {(index.parent / target.partition("#")[0]).resolve() for target in links(index.read_text(encoding="utf-8"))}
    pages = {page.resolve() for page in (ROOT / "docs").glob("*.md")} - {index.resolve()}
    assert not pages - linked, f"docs/README.md does not list {sorted(p.name for p in pages - linked)}"
    assert "(docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8"), "the README links to docs/"


def test_the_checker_finds_what_is_broken_and_ignores_code(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "other.md").write_text("# Other page\n\n## Twice\n\n## Twice\n\n### What's new: 92 % (v2)\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# A page\n\n"
        "[fine](../other.md) [fine too](../other.md#twice-1) [here](#a-page) ![img](../other.md)\n"
        "[quoted](../other.md#whats-new-92--v2) [web](https://example.org/missing) <https://example.org>\n"
        "[gone](../missing.md) [no heading](../other.md#nowhere) [outside](../../elsewhere.md)\n"
        "`[in code](nowhere.md)`\n\n```bash\n[in a block](nowhere.md)\n```\n<!-- [in a comment](nowhere.md) -->\n"
        "[ref]: ../also-missing.md\n")
    problems = broken_links(page, root=tmp_path)
    assert [p.split(": (")[1].split(")")[0] for p in problems] == [
        "../missing.md", "../other.md#nowhere", "../../elsewhere.md", "../also-missing.md"], problems
    assert "there is no ../missing.md" in problems[0]
    assert "no heading with the anchor #nowhere" in problems[1]
    assert "leaves the repository" in problems[2]


def test_slugs_follow_githubs_rule():
    assert slug("2026-11-30, afternoon: several backbones, one head (92 % still not reached)") == (
        "2026-11-30-afternoon-several-backbones-one-head-92--still-not-reached")
    assert slug("Decided once, at the top: the run context") == "decided-once-at-the-top-the-run-context"
    assert slug("The Chinese edition (简体中文)") == "the-chinese-edition-简体中文"
    assert slug("Notebook 06's committed run") == "notebook-06s-committed-run"
