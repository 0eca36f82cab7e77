"""SQL files, each read once, on its first use.

Queries live in ``queries/<aggregate>/<verb_noun>.sql`` with a header comment that reads as
their docstring and named ``%(param)s`` placeholders; parameters are always bound by
psycopg, never formatted into the text. A function reads only the queries it runs (a
cold start reading all of them took 3 ms of CPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import LiteralString

_ROOT = Path(__file__).resolve().parent.parent / "queries"
# The queries read so far, by name.
_read: dict[str, LiteralString] = {}


def query(name: str) -> LiteralString:
    """The text of ``queries/<name>.sql``; a missing name is a programming error (KeyError)."""
    if name not in _read:
        path = _ROOT / f"{name}.sql"
        if not path.is_file():
            raise KeyError(name)
        # The one place file text becomes a query: these files ship inside the package and
        # are never built from input.
        _read[name] = path.read_text(encoding="utf-8")
    return _read[name]


def __getattr__(name: str) -> dict[str, LiteralString]:
    """``QUERIES``: every query by name, all read (for the tests and benchmarks that list
    or swap them; ``query`` then answers from it)."""
    if name != "QUERIES":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for path in _ROOT.rglob("*.sql"):
        query(path.relative_to(_ROOT).with_suffix("").as_posix())
    return _read
