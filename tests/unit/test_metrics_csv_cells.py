"""Pure rules of the metrics API's CSV tables: negotiation and cells (the handler tests
cover them on the wire)."""

from __future__ import annotations

import pytest

from funnel.metrics import csv_tables


@pytest.mark.parametrize(
    ("format_", "accept", "is_csv"),
    [
        (None, "", False),
        (None, "text/csv", True),
        (None, "TEXT/CSV;charset=utf-8", True),
        (None, "application/json, text/csv;q=0.1", True),
        (None, "text/csv;q=0", False),
        (None, "text/csv;q=0.000", False),
        (None, "text/csv;q=nonsense", False),
        (None, "text/*", False),
        ("json", "text/csv", False),
        ("csv", "application/json", True),
    ],
)
def test_format_then_accept_decides(format_, accept, is_csv):
    assert csv_tables.wants_csv(format_, accept) is is_csv


def test_cells_are_json_values_and_formulas_are_quoted_out():
    table = csv_tables.Table(("key", "visitors", "share"), lambda body: body["rows"])
    rows = [
        {"key": "/a,b", "visitors": 3, "share": 0.25},
        {"key": "=1+1", "visitors": 0, "share": None},
        {"key": "-x", "visitors": 1, "share": -0.5},
        {"key": '"q"', "visitors": 2, "share": 1e-7},
    ]
    assert csv_tables.render(table, {"rows": rows}) == (
        'key,visitors,share\r\n"/a,b",3,0.25\r\n\'=1+1,0,\r\n\'-x,1,-0.5\r\n"""q""",2,1e-07\r\n'
    )
