"""Pure rules of the metrics API: relative periods on a given UTC day, and CSV negotiation
and cells (the handler tests cover them on the wire)."""

from __future__ import annotations

from datetime import date

import pytest

from funnel.metrics import csv_tables
from funnel.metrics.api import period_window, resolve_window
from funnel.platform.errors import MalformedRequest


@pytest.mark.parametrize(
    ("today", "period", "first", "last"),
    [
        (date(2026, 3, 1), "today", date(2026, 3, 1), date(2026, 3, 1)),
        (date(2026, 3, 1), "7d", date(2026, 2, 22), date(2026, 2, 28)),
        (date(2026, 3, 1), "30d", date(2026, 1, 30), date(2026, 2, 28)),
        (date(2026, 3, 1), "90d", date(2025, 12, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), "month", date(2026, 3, 1), date(2026, 3, 1)),
        (date(2026, 3, 31), "month", date(2026, 3, 1), date(2026, 3, 31)),
        (date(2026, 3, 1), "last_month", date(2026, 2, 1), date(2026, 2, 28)),
        (date(2028, 3, 1), "last_month", date(2028, 2, 1), date(2028, 2, 29)),
        (date(2026, 1, 1), "last_month", date(2025, 12, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), "7d", date(2025, 12, 25), date(2025, 12, 31)),
    ],
)
def test_a_period_is_its_days_on_the_utc_day_given(today, period, first, last):
    assert period_window(period, today) == (first, last)
    window = resolve_window(None, None, today, period)
    assert (window.start, window.end, window.period) == (first, last, period)


@pytest.mark.parametrize(("start", "end"), [(date(2026, 2, 1), None), (None, date(2026, 2, 1))])
def test_a_period_with_a_date_is_refused(start, end):
    with pytest.raises(MalformedRequest) as refused:
        resolve_window(start, end, date(2026, 3, 1), "7d")
    assert refused.value.code == "period_with_dates"


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
