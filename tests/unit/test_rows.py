"""Typed rows (``funnel.platform.rows``): the arrays a set-wise statement binds are built
from one dataclass per kind of row, and each statement's ``unnest`` names exactly that
dataclass's fields, in order, so the two cannot drift apart."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from uuid import UUID

import pytest

from funnel.capture.accounting import CounterRow
from funnel.capture.beacons import ContinuedSession, EventRow, LateMeasureRow, SessionRow, TrafficLogRow
from funnel.platform.rows import column_arrays, column_names, parameters
from funnel.platform.sql import query

PLACEHOLDER = re.compile(r"%\((\w+)\)[sb]")


def unnests(statement: str) -> list[tuple[list[str], list[str]]]:
    """Each ``unnest(...) [WITH ORDINALITY] AS alias (columns)`` of a statement: the
    placeholders it binds, in order, and the columns its alias names."""
    found = []
    for match in re.finditer(r"\bunnest\(", statement):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(statement[end], 0)
            end += 1
        alias = re.match(r"\s*(?:WITH ORDINALITY\s*)?AS \w+ \(([^)]*)\)", statement[end:])
        assert alias is not None, statement[match.start() : end + 40]
        columns = [name.strip() for name in alias.group(1).split(",")]
        found.append((PLACEHOLDER.findall(statement[match.start() : end]), columns))
    return found


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("events/store_batch", [(SessionRow, "session_"), (EventRow, "event_"), (TrafficLogRow, "log_")]),
        ("traffic_logs/apply_late_measures", [(LateMeasureRow, "")]),
        ("ingest_counters/add_many_counts", [(CounterRow, "")]),
    ],
)
def test_each_unnest_binds_its_row_kinds_fields_in_order(name, kinds):
    found = unnests(query(name))
    assert [placeholders for placeholders, _ in found] == [
        list(column_names(kind, prefix)) for kind, prefix in kinds
    ]
    for (placeholders, columns), (kind, _) in zip(found, kinds, strict=True):
        # WITH ORDINALITY adds one column after the arrays'.
        assert len(columns) in (len(placeholders), len(placeholders) + 1), kind


def test_the_continued_session_parameters_are_its_fields():
    statement = query("events/store_batch")
    continued = {name for name in PLACEHOLDER.findall(statement) if name.startswith("continued_")}
    assert continued == set(column_names(ContinuedSession, "continued_"))


@dataclass
class Pair:
    left: int
    right: str | None


def test_rows_become_one_array_per_column_in_field_order():
    rows = [Pair(1, "a"), Pair(2, None), Pair(3, "c")]

    arrays = column_arrays(Pair, rows, "pair_")

    assert list(arrays) == ["pair_left", "pair_right"]
    assert arrays == {"pair_left": [1, 2, 3], "pair_right": ["a", None, "c"]}


def test_no_rows_are_empty_arrays_of_every_column():
    assert column_arrays(Pair, [], "pair_") == {"pair_left": [], "pair_right": []}


def test_one_row_becomes_named_parameters():
    assert parameters(Pair(7, "x"), "p_") == {"p_left": 7, "p_right": "x"}


def test_a_row_kind_of_one_column_is_refused():
    @dataclass
    class Single:
        only: int

    with pytest.raises(TypeError, match="two columns"):
        column_arrays(Single, [Single(1)])


def test_a_traffic_log_row_without_measures_writes_them_as_nulls():
    row = TrafficLogRow(
        client_id="pv1",
        session_id=UUID(int=1),
        occurred_at=datetime(2026, 2, 13, 12, tzinfo=UTC),
        path="/",
        referrer_host=None,
        traffic_source="direct",
        utm_source=None,
        utm_medium=None,
        utm_campaign=None,
        utm_term=None,
        utm_content=None,
        click_id_type=None,
        is_entrance=True,
        is_exit=True,
        is_conversion=False,
        lcp_ms=1200,
    )

    arrays = column_arrays(TrafficLogRow, [row], "log_")

    measures = (
        "fcp_ms",
        "lcp_ms",
        "inp_ms",
        "cls_score",
        "ttfb_ms",
        "engaged_time_ms",
        "scroll_depth_percent",
    )
    assert {name: arrays[f"log_{name}"] for name in measures} == {
        name: [1200 if name == "lcp_ms" else None] for name in measures
    }
    assert len(arrays) == len(fields(TrafficLogRow))
