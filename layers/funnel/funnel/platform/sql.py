"""SQL files, read once at import.

Queries live in ``queries/<aggregate>/<verb_noun>.sql`` with a header comment that reads as
their docstring and named ``%(param)s`` placeholders; parameters are always bound by
psycopg, never formatted into the text.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from typing import LiteralString


def _load(root: Traversable, prefix: str = "") -> dict[str, LiteralString]:
    found: dict[str, LiteralString] = {}
    for entry in root.iterdir():
        if entry.is_dir():
            found.update(_load(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(".sql"):
            # The one place file text becomes a query: these files ship inside the package
            # and are never built from input.
            found[f"{prefix}{entry.name[:-4]}"] = entry.read_text(encoding="utf-8")
    return found


QUERIES: dict[str, LiteralString] = _load(resources.files("funnel").joinpath("queries"))


def query(name: str) -> LiteralString:
    """The text of ``queries/<name>.sql``; a missing name is a programming error."""
    return QUERIES[name]
