"""Typed rows: what a query reads, and what a set-wise statement writes.

A query's result is read into a dataclass whose fields are its columns, by name
(``psycopg.rows.class_row``): :func:`fetch_one`; a one-column result
is read as its values (:func:`fetch_value`, :func:`fetch_column`).

A statement that writes many rows in one round trip binds one array per column
(``unnest(%(session_id)b::uuid[], ...)``). Those arrays are built from a list of
dataclass instances, one dataclass per kind of row, whose fields, in order, are the
columns (:func:`column_arrays`): the Python side keeps one list of columns, and a unit
test checks each statement's placeholders against it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, LiteralString

import psycopg
from psycopg.rows import class_row, scalar_row

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def fetch_one[Row: DataclassInstance](
    conn: psycopg.Connection, kind: type[Row], statement: LiteralString, params: Mapping[str, Any]
) -> Row | None:
    """The statement's first row as a ``kind`` (None when there is none)."""
    return conn.cursor(row_factory=class_row(kind)).execute(statement, params).fetchone()


def fetch_value(conn: psycopg.Connection, statement: LiteralString, params: Mapping[str, Any]) -> Any:
    """The first column of the statement's first row (None when there is no row)."""
    return conn.cursor(row_factory=scalar_row).execute(statement, params).fetchone()


def fetch_column(conn: psycopg.Connection, statement: LiteralString, params: Mapping[str, Any]) -> list[Any]:
    """The first column of every row of the statement."""
    return conn.cursor(row_factory=scalar_row).execute(statement, params).fetchall()


def column_names(kind: type[DataclassInstance], prefix: str = "") -> tuple[str, ...]:
    """The placeholders of ``kind``'s columns: its field names, in order, after ``prefix``."""
    return tuple(prefix + name for name in _fields(kind)[0])


def column_arrays[Row: DataclassInstance](
    kind: type[Row], rows: Sequence[Row], prefix: str = ""
) -> dict[str, list[Any]]:
    """``rows`` as one list per column, keyed by :func:`column_names`, for ``unnest``."""
    names, values = _fields(kind)
    if not rows:
        return {prefix + name: [] for name in names}
    columns = zip(*map(values, rows), strict=True)
    return {prefix + name: list(column) for name, column in zip(names, columns, strict=True)}


def parameters(row: DataclassInstance, prefix: str = "") -> dict[str, Any]:
    """One row's fields as named parameters, keyed by :func:`column_names`."""
    names, values = _fields(type(row))
    return dict(zip((prefix + name for name in names), values(row), strict=True))


@functools.cache
def _fields(kind: type[DataclassInstance]) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    names = tuple(field.name for field in fields(kind))
    if len(names) < 2:
        # attrgetter of one name returns the value, not a 1-tuple.
        raise TypeError(f"{kind.__name__}: a row kind has two columns or more")
    return names, attrgetter(*names)
