"""The contracts the code cites live in the repository: no source file points to documents
outside it (the seed documents and the design brief the product was specified from), and
every ``docs/<page>.md#<section>`` that the code, the tests or the README cite exists."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import REPO as ROOT

DOCS = ROOT / "docs"
# Where the code lives that must cite only what the repository holds.
SOURCE_DIRS = ("layers", "functions", "tools")
# Where citations of the docs pages are looked for.
CITING_DIRS = ("layers", "functions", "tools", "tests", "benchmarks", "emitter")
CITING_SUFFIXES = frozenset({".py", ".sql", ".md"})
OUTSIDE_CITATION = re.compile(r"(?i:seed 0|seeds/)|DESIGN")
DOC_CITATION = re.compile(r"docs/([a-z0-9_-]+\.md)#([a-z0-9_-]+)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
# Folders no one writes by hand: builds, installs, caches.
_GENERATED = frozenset({"node_modules", "build", "dist", "__pycache__"})


def _files(dirs: tuple[str, ...], suffixes: frozenset[str]) -> list[Path]:
    found = []
    for name in dirs:
        for path in sorted((ROOT / name).rglob("*")):
            parts = path.relative_to(ROOT).parts
            generated = any(part in _GENERATED or part.startswith(".") for part in parts)
            if path.suffix in suffixes and path.is_file() and not generated:
                found.append(path)
    return found


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower-cased, punctuation (but ``-`` and ``_``)
    dropped, spaces turned into hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(page: str) -> frozenset[str]:
    """Every anchor of a docs page's headings (code blocks skipped; a repeated heading's
    anchor gets ``-1``, ``-2``... as on GitHub)."""
    seen: Counter[str] = Counter()
    found = set()
    in_code = False
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        heading = _HEADING.match(line)
        if in_code or heading is None:
            continue
        anchor = github_anchor(heading.group(1))
        found.add(f"{anchor}-{seen[anchor]}" if seen[anchor] else anchor)
        seen[anchor] += 1
    return frozenset(found)


def _source_files() -> list[Path]:
    # Python and SQL; not the migrations, which are checksummed when applied and so never
    # edited, comments included.
    return [
        path
        for path in _files(SOURCE_DIRS, frozenset({".py", ".sql"}))
        if "migrations" not in path.relative_to(ROOT).parts
    ]


def test_the_source_cites_no_document_outside_the_repository():
    # Given every Python and SQL file of the layer, the functions and the tools
    # When their text is searched for the seed documents and the design brief
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _source_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OUTSIDE_CITATION.search(line)
    ]
    # Then there is none: they cite docs/ instead
    assert offending == []


def citations() -> list[tuple[str, str, str]]:
    """Every ``docs/<page>.md#<anchor>`` cited, with where it was cited."""
    found = []
    for path in [*_files(CITING_DIRS, CITING_SUFFIXES), ROOT / "README.md"]:
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for page, anchor in DOC_CITATION.findall(line):
                found.append((f"{path.relative_to(ROOT)}:{number}", page, anchor))
    return found


def test_the_code_cites_the_docs():
    # Given the citations of docs pages in the code, the tests and the README
    # Then there are some (the check below is not vacuous)
    assert len(citations()) >= 10


@pytest.mark.parametrize(("where", "page", "anchor"), citations())
def test_every_cited_section_exists(where, page, anchor):
    # Given a citation of docs/<page>.md#<anchor>
    # Then the page exists and has a heading with that anchor
    assert (DOCS / page).is_file(), f"{where}: docs/{page} does not exist"
    assert anchor in anchors(page), f"{where}: docs/{page} has no heading #{anchor}"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Funnel cohort", "funnel-cohort"),
        ("The other and unknown buckets", "the-other-and-unknown-buckets"),
        ("Visitors, sessions and page views", "visitors-sessions-and-page-views"),
        ("Metrics: `GET /v1/metrics/summary`", "metrics-get-v1metricssummary"),
        ("Funnel's contracts", "funnels-contracts"),
        ("snake_case stays", "snake_case-stays"),
    ],
)
def test_anchors_are_githubs(heading, anchor):
    # Given a heading; Then its anchor is the one GitHub makes of it
    assert github_anchor(heading) == anchor
