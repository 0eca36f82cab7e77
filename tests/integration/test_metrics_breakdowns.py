"""Breakdowns (``includeBreakdowns=true`` on the summary): top landing pages, pages, device
types, countries and traffic sources of a window, rolled up per property and day and read
from the rollups only, compared with a recomputation from the raw page views written, in
plain Python; the comparison trend and the property list; and how the new daily table
takes part in dirty days, retention and delete by email."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

import leads_admin_handler
import metrics_handler
from funnel.metrics.api import ReportCache
from funnel.platform.errors import ConfigurationError
from funnel.platform.runtime import Runtime, get_runtime, reset_runtime
from funnel.platform.settings import get_settings
from funnel.readmodel import dirty_days
from funnel.readmodel.rollups import Trigger, run_rollups
from tests import raw_data
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY
from tests.integration.test_metrics_api import wire

pytestmark = pytest.mark.integration

NOW = datetime(2026, 2, 14, 9, 30, tzinfo=UTC)
DAYS = [date(2026, 2, 9) + timedelta(days=n) for n in range(4)]  # 02-09..02-12
WINDOW = "from=2026-02-09&to=2026-02-12"
PATHS = ["/", "/pricing", "/docs", "/blog/a", "/blog/b", "/about", "/contact"]
DEVICES = ["desktop", "mobile", "tablet"]
COUNTRIES = ["CA", "US", "FR", None]
SOURCES = ["direct", "organic_search", "social", "referral"]
LISTS = {
    "landing_page": "landingPages",
    "page": "topPages",
    "device": "devices",
    "country": "countries",
    "source": "sources",
}


@dataclass(frozen=True)
class View:
    """A page view as written to the raw tables."""

    property_id: str
    day: date
    visitor: uuid.UUID
    session: uuid.UUID
    path: str
    device: str
    country: str | None
    source: str
    entrance: bool
    conversion: bool


def write_traffic(db: psycopg.Connection, seed: int = 3) -> list[View]:
    """Random visits of two properties over DAYS: returning visitors, 1-4 page views a
    visit, the first an entrance that sometimes converts."""
    rng = random.Random(seed)
    views: list[View] = []
    pool = {
        prop: [raw_data.visitor(db, NOW - timedelta(days=30), property_id=prop) for _ in range(25)]
        for prop in ("default", "docs")
    }
    for day in DAYS:
        for prop, visitors in pool.items():
            for visitor_id in rng.sample(visitors, 12):
                start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
                    minutes=rng.randrange(1380)
                )
                source, device, country = rng.choice(SOURCES), rng.choice(DEVICES), rng.choice(COUNTRIES)
                session_id = raw_data.session(db, visitor_id, start, source=source)
                converted = rng.random() < 0.3
                for step in range(rng.randint(1, 4)):
                    path = rng.choice(PATHS)
                    entrance = step == 0
                    raw_data.page_view(
                        db,
                        session_id,
                        start + timedelta(minutes=step),
                        path=path,
                        source=source,
                        device=device,
                        country=country,
                        entrance=entrance,
                        conversion=entrance and converted,
                    )
                    views.append(
                        View(
                            prop,
                            day,
                            visitor_id,
                            session_id,
                            path,
                            device,
                            country,
                            source,
                            entrance,
                            entrance and converted,
                        )
                    )
    return views


def recompute(views: list[View], top: int) -> dict[str, list[dict[str, Any]]]:
    """The breakdowns of ``views``, from the page views themselves."""
    landing = {(view.session, view.day): view.path for view in views if view.entrance}
    keyed: dict[str, dict[str, dict[str, Any]]] = {dimension: {} for dimension in LISTS}
    for view in views:
        keys = {
            "landing_page": landing.get((view.session, view.day)),
            "page": view.path,
            "device": view.device,
            "country": view.country or "(not set)",
            "source": view.source,
        }
        for dimension, key in keys.items():
            if key is None:
                continue
            row = keyed[dimension].setdefault(
                key, {"visitors": set(), "pageViews": 0, "entrances": 0, "conversions": 0}
            )
            row["visitors"].add(view.visitor)
            row["pageViews"] += 1
            row["entrances"] += view.entrance
            row["conversions"] += view.conversion
    answer = {}
    for dimension, name in LISTS.items():
        rows = sorted(
            keyed[dimension].items(), key=lambda kv: (-len(kv[1]["visitors"]), -kv[1]["pageViews"], kv[0])
        )
        shown = [{"key": key, **row} for key, row in rows[:top]]
        if rows[top:]:
            rest = [row for _, row in rows[top:]]
            shown.append(
                {
                    "key": "(other)",
                    "visitors": set().union(*(row["visitors"] for row in rest)),
                    **{
                        count: sum(row[count] for row in rest)
                        for count in ("pageViews", "entrances", "conversions")
                    },
                }
            )
        answer[name] = [
            {**row, "visitors": len(row["visitors"])}
            if dimension == "landing_page"
            else {"key": row["key"], "visitors": len(row["visitors"]), "pageViews": row["pageViews"]}
            for row in shown
        ]
    return answer


@pytest.fixture
def runtime(lambda_env: pytest.MonkeyPatch) -> Runtime:
    lambda_env.setattr(metrics_handler, "cache", ReportCache())
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    return pinned


def summary(context: Any, query: str) -> dict[str, Any]:
    event = api_event("metrics/summary", query=query, headers={"x-admin-key": ADMIN_KEY})
    response = metrics_handler.lambda_handler(event, context)
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = response_json(response)
    return body


def roll_up(runtime: Runtime) -> None:
    run_rollups(runtime, from_day=DAYS[0], to_day=DAYS[-1], trigger=Trigger.CLI)


def stored(db: psycopg.Connection) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT property_id, day, dimension, key, visitors, visitors_sketch, page_views, entrances, "
        'conversions FROM daily_breakdown_rollups ORDER BY property_id, day, dimension, key COLLATE "C"'
    ).fetchall()


class TestAgainstRawData:
    @pytest.mark.parametrize("top", [1, 3, 10])
    @pytest.mark.parametrize("property_id", ["default", None])
    def test_every_list_is_the_recomputation_from_raw_page_views(
        self, runtime, db, context, top, property_id
    ):
        # Given raw traffic of two properties over four days, rolled up
        views = write_traffic(db)
        roll_up(runtime)

        # When the window's breakdowns are asked for
        scope = f"&propertyId={property_id}" if property_id else ""
        body = summary(context, f"{WINDOW}&includeBreakdowns=true&top={top}{scope}")

        # Then each list is what the page views themselves give: top keys by visitors, the
        # rest as (other), counts exact and visitors exact (small sets are exact sketches)
        expected = recompute([v for v in views if property_id in (None, v.property_id)], top)
        assert body["breakdowns"] == expected

    def test_window_totals_are_the_summarys(self, runtime, db, context):
        write_traffic(db)
        roll_up(runtime)
        body = summary(context, f"{WINDOW}&includeBreakdowns=true&top=2")
        page_views = body["metrics"]["totalPageViews"]["value"]
        lists = body["breakdowns"]
        for name in ("topPages", "devices", "countries", "sources"):
            assert sum(row["pageViews"] for row in lists[name]) == page_views
        assert all(row["key"] != "(other)" for row in lists["landingPages"][:-1])

    def test_without_the_flag_there_are_no_breakdowns(self, runtime, db, context):
        write_traffic(db)
        roll_up(runtime)
        body = summary(context, WINDOW)
        assert "breakdowns" not in body and "compareTrend" not in body

    def test_the_read_touches_no_raw_table(self, runtime, db, context):
        write_traffic(db)
        roll_up(runtime)
        connection = get_runtime().database.connection()
        with wire(connection) as sent:
            summary(context, f"{WINDOW}&includeBreakdowns=true&compareTo=true&includeFunnel=true")
        assert "daily_breakdown_rollups" in sent.trace
        for raw in ("web_traffic_logs", "FROM events", "JOIN events", "sessions"):
            assert raw not in sent.trace

    @pytest.mark.parametrize(("top", "status"), [(0, 422), (1, 200), (100, 200), (101, 422)])
    def test_top_is_between_1_and_100(self, runtime, db, context, top, status):
        event = api_event(
            "metrics/summary", query=f"includeBreakdowns=true&top={top}", headers={"x-admin-key": ADMIN_KEY}
        )
        response = metrics_handler.lambda_handler(event, context)
        assert response["statusCode"] == status
        if status == 422:
            assert [detail["loc"] for detail in response_json(response)["details"]] == ["top"]


class TestDailyBound:
    @pytest.mark.parametrize(("bound", "folded"), [(7, False), (6, True)])
    def test_a_days_keys_past_the_bound_are_one_other_row_and_totals_stay_exact(
        self, lambda_env, db, context, bound, folded
    ):
        # Given a day of one property with seven paths, and a bound of 7 or 6 keys a day
        lambda_env.setenv("ROLLUP_BREAKDOWN_KEYS_PER_DAY", str(bound))
        reset_runtime()
        runtime = get_runtime()
        runtime.clock = lambda: NOW
        lambda_env.setattr(metrics_handler, "cache", ReportCache())
        visitor_id = raw_data.visitor(db, NOW - timedelta(days=30))
        session_id = raw_data.session(db, visitor_id, datetime(2026, 2, 10, 8, tzinfo=UTC))
        for minute, path in enumerate(PATHS):
            for repeat in range(minute + 1):  # "/" once, "/pricing" twice... "/contact" 7 times
                raw_data.page_view(
                    db,
                    session_id,
                    datetime(2026, 2, 10, 8, minute, repeat, tzinfo=UTC),
                    path=path,
                    entrance=minute == 0 and repeat == 0,
                )

        # When the day is rolled up
        run_rollups(runtime, from_day=date(2026, 2, 10), to_day=date(2026, 2, 10), trigger=Trigger.CLI)

        # Then at the bound every path is its own row; one under it, the least viewed is (other)
        pages = db.execute(
            "SELECT key, page_views FROM daily_breakdown_rollups WHERE dimension = 'page' ORDER BY page_views"
        ).fetchall()
        if folded:
            assert pages[0] == ("(other)", 1)
            assert len(pages) == 7
            assert "/" not in {key for key, _ in pages}
        else:
            assert pages[0] == ("/", 1)
        # And the window's totals are exact either way, the folded row read as (other)
        body = summary(context, "from=2026-02-10&to=2026-02-10&includeBreakdowns=true&top=100")
        assert sum(row["pageViews"] for row in body["breakdowns"]["topPages"]) == 28
        assert (body["breakdowns"]["topPages"][-1]["key"] == "(other)") is folded

    @pytest.mark.parametrize("value", ["0", "10001", "many"])
    def test_the_bound_is_validated(self, lambda_env, value):
        lambda_env.setenv("ROLLUP_BREAKDOWN_KEYS_PER_DAY", value)
        get_settings.cache_clear()
        with pytest.raises(ConfigurationError, match="rollup_breakdown_keys_per_day"):
            get_settings()
        get_settings.cache_clear()


class TestAlongsideTheOtherRollups:
    def test_compare_trend_is_the_comparison_windows_days(self, runtime, db, context):
        write_traffic(db)
        roll_up(runtime)
        body = summary(context, "from=2026-02-11&to=2026-02-12&compareTo=true")
        assert [day["day"] for day in body["compareTrend"]] == ["2026-02-09", "2026-02-10"]
        earlier = summary(context, "from=2026-02-09&to=2026-02-10")
        assert body["compareTrend"] == earlier["trend"]

    def test_properties_lists_every_rolled_up_property(self, runtime, db, context):
        assert summary(context, WINDOW)["properties"] == []
        write_traffic(db)
        roll_up(runtime)
        # whatever the window or property asked for
        assert summary(context, "from=2025-01-01&to=2025-01-02&propertyId=docs")["properties"] == [
            "default",
            "docs",
        ]

    def test_a_dirty_day_recomputes_its_breakdowns(self, runtime, db, context):
        # Given an old day rolled up, then a late page view of a new path written to it
        old = date(2026, 1, 20)
        visitor_id = raw_data.visitor(db, NOW - timedelta(days=30))
        session_id = raw_data.session(db, visitor_id, datetime(2026, 1, 20, 8, tzinfo=UTC))
        raw_data.page_view(db, session_id, datetime(2026, 1, 20, 8, tzinfo=UTC), path="/", entrance=True)
        run_rollups(runtime, from_day=old, to_day=old, trigger=Trigger.CLI)
        raw_data.page_view(db, session_id, datetime(2026, 1, 20, 8, 5, tzinfo=UTC), path="/late")
        with db.transaction():
            dirty_days.mark(db, dirty_days.Changed({old}), written_at=NOW)

        # When the scheduled run recomputes the dirty days
        run_rollups(
            runtime, from_day=NOW.date(), to_day=NOW.date(), trigger=Trigger.SCHEDULE, with_dirty_days=True
        )

        # Then the day's breakdowns have the late page
        body = summary(context, "from=2026-01-20&to=2026-01-20&includeBreakdowns=true")
        assert {row["key"]: row["pageViews"] for row in body["breakdowns"]["topPages"]} == {
            "/": 1,
            "/late": 1,
        }
        assert body["breakdowns"]["landingPages"] == [
            {"key": "/", "visitors": 1, "pageViews": 2, "entrances": 1, "conversions": 0}
        ]

    def test_delete_by_email_leaves_the_breakdowns_as_they_were(self, runtime, db, context):
        # Given rolled-up traffic and a lead captured on one of its days
        write_traffic(db)
        raw_data.lead(db, datetime(2026, 2, 10, 12, tzinfo=UTC))
        roll_up(runtime)
        before = stored(db)
        (email,) = db.execute("SELECT email_normalized FROM leads").fetchone()

        # When the lead is deleted by email and the scheduled run recomputes the day it marked
        event = api_event(
            "leads_admin/delete_lead", body={"email": email}, headers={"x-admin-key": ADMIN_KEY}
        )
        assert leads_admin_handler.lambda_handler(event, context)["statusCode"] == 200
        run_rollups(
            runtime, from_day=NOW.date(), to_day=NOW.date(), trigger=Trigger.SCHEDULE, with_dirty_days=True
        )

        # Then the breakdowns (pseudonymous page views, not the lead's) are the same
        assert stored(db) == before
