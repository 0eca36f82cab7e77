"""The dashboard in a real browser. ``make demo``'s data (at a third of its traffic) behind
``make run``'s server; Debian's headless chromium opens ``/dashboard``, signs in with the
read-only metrics key and reads what the page shows, which must be what the API answers to
the very requests the page sent (read again here with the same key), never pixels. Each test
also holds the page to its console (no errors) and its Content-Security-Policy (no
violation reported). Screenshots of the main view, on a desktop and on a phone, are saved
as ``test-output/screenshots/dashboard.png`` and ``dashboard-phone.png`` (ignored by git),
and their paths printed (``pytest -s`` shows them)."""

from __future__ import annotations

import csv
import json
import signal
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request

from tests.conftest import REPO
from tests.local_runs import LocalServe, run_command, scratch_data_dir

pytestmark = pytest.mark.e2e

METRICS_KEY = "dashboard-metrics-key"
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def serve() -> Iterator[LocalServe]:
    """``make demo``'s data and ``make run``'s server, with a metrics key of this module's."""
    environment = {"ADMIN_API_KEY": "", "WEBHOOK_SIGNING_SECRETS": "", "METRICS_API_KEYS": METRICS_KEY}
    with scratch_data_dir("funnel-dashboard-") as data_dir:
        demo = run_command(data_dir, "demo", "--scale", "0.35", **environment)
        assert demo.returncode == 0, demo.stderr[-3000:]
        running = LocalServe(
            data_dir,
            data_dir.parent / "run.log",
            arguments=("--no-schedules",),
            extra_environment=environment,
        )
        try:
            yield running.start()
        finally:
            running.send(signal.SIGTERM)
            running.wait()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """``test-output/screenshots`` (git ignores it): not pytest's temporary directory, which
    the next runs on the machine remove, so the pictures are still there to look at."""
    folder = REPO / "test-output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Dashboard:
    """The dashboard in a fresh browser profile: its page, what its console said, and the
    requests it sent to the metrics API."""

    page: Page
    serve: LocalServe
    console_errors: list[str]
    metrics_requests: list[Request]

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.serve.url}/dashboard{fragment}")

    def sign_in(self, key: str = METRICS_KEY) -> None:
        self.page.fill("#key", key)
        self.after(lambda: self.page.press("#key", "Enter"))

    def renders(self) -> int:
        return int(self.page.get_attribute("#app", "data-renders") or 0)

    def after(self, action: Callable[[], None]) -> None:
        """Do ``action`` and wait until the page has drawn what it asked for."""
        before = self.renders()
        action()
        self.page.wait_for_function(
            "(before) => Number(document.getElementById('app').dataset.renders || 0) > before"
            " && !document.getElementById('app').hasAttribute('aria-busy')",
            arg=before,
        )

    def last(self, route: str) -> str:
        """The path and query of the last request the page sent to ``/v1/metrics/<route>``."""
        for request in reversed(self.metrics_requests):
            parts = urllib.parse.urlsplit(request.url)
            if parts.path == f"/v1/metrics/{route}":
                return f"{parts.path}?{parts.query}" if parts.query else parts.path
        raise AssertionError(f"no request to {route}: {[r.url for r in self.metrics_requests]}")

    def api(self, path_and_query: str, key: str = METRICS_KEY) -> Any:
        """What the API answers to that request, asked again here with the same key."""
        request = urllib.request.Request(
            f"{self.serve.url}{path_and_query}", headers={"authorization": f"Bearer {key}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def tile(self, metric: str) -> str:
        return self.page.get_attribute(f'[data-metric="{metric}"] .value', "data-value") or ""

    def table(self, name: str) -> list[dict[str, str]]:
        """The rows of one of the page's tables: each cell's unformatted value by column."""
        return self.page.eval_on_selector_all(
            f'[data-table="{name}"] tbody tr',
            "rows => rows.map(row => Object.fromEntries([...row.querySelectorAll('[data-column]')]"
            ".map(cell => [cell.dataset.column, cell.dataset.value])))",
        )

    def state(self, name: str) -> str | None:
        """``empty`` or ``unavailable`` when a table shows no rows, and why."""
        return self.page.get_attribute(f'[data-table="{name}"] [data-state]', "data-state")

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations")

    def assert_clean(self, *, allowed: tuple[str, ...] = ()) -> None:
        """No console error (but those ``allowed``), no CSP violation."""
        errors = [error for error in self.console_errors if not any(text in error for text in allowed)]
        assert errors == []
        assert self.csp_violations() == []


@pytest.fixture
def open_dashboard(browser: Browser, serve: LocalServe) -> Iterator[Callable[..., Dashboard]]:
    contexts = []

    def opened(**context_options: Any) -> Dashboard:
        options = {"viewport": {"width": 1280, "height": 900}, **context_options}
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.add_init_script(WATCH_CSP)
        dashboard = Dashboard(page, serve, [], [])
        page.on(
            "console",
            lambda message: (
                dashboard.console_errors.append(f"{message.text} {message.location}")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: dashboard.console_errors.append(f"uncaught: {error}"))
        page.on(
            "request",
            lambda request: (
                dashboard.metrics_requests.append(request) if "/v1/metrics/" in request.url else None
            ),
        )
        return dashboard

    yield opened
    for context in contexts:
        context.close()


def value(number: float | int | str | None) -> str:
    """A value as the page's markup holds it (JavaScript's String())."""
    if number is None:
        return ""
    if isinstance(number, str):
        return number
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return repr(number)


def rows_of(answer: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{column: value(cell) for column, cell in row.items()} for row in answer]


def funnel_rows(funnel: dict[str, Any]) -> list[dict[str, str]]:
    steps = [
        ("marketingVisitors", "Visitors"),
        ("leadsCaptured", "Leads"),
        ("tenantsCreated", "Tenants (signed up)"),
        ("tenantsWithApiKey", "With an API key"),
        ("tenantsWithFirstScan", "With a first scan"),
        ("tenantsActive30d", "Active (a scan in 30 days)"),
    ]
    rows = []
    for index, (field, label) in enumerate(steps):
        before = funnel[steps[index - 1][0]] if index else None
        rate = funnel[field] / before if before else None
        rows.append({"step": label, "count": value(funnel[field]), "rate": value(rate)})
    return rows


GROUP_COLUMNS = (
    "marketingVisitors",
    "leadsCaptured",
    "tenantsCreated",
    "tenantsWithApiKey",
    "tenantsWithFirstScan",
    "tenantsActive30d",
    "leadToTenantConversionRate",
)


def group_rows(groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        key: {column: value(funnel[column]) for column in GROUP_COLUMNS} for key, funnel in groups.items()
    }


def by_key(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["key"]: {column: row[column] for column in GROUP_COLUMNS} for row in rows}


def test_the_first_view_signs_in_with_three_requests_and_shows_what_the_api_answers(
    open_dashboard, screenshots
):
    # Given a browser that opens the dashboard
    dashboard = open_dashboard()
    dashboard.open()
    page = dashboard.page
    assert page.is_visible("#signin") and not page.is_visible("#app")

    # When the read-only key is typed in
    dashboard.sign_in()
    page.wait_for_load_state("networkidle")

    # Then the first view cost three requests to the API, one per route
    assert sorted(urllib.parse.urlsplit(r.url).path for r in dashboard.metrics_requests) == [
        "/v1/metrics/now",
        "/v1/metrics/service-usage",
        "/v1/metrics/summary",
    ]
    summary = dashboard.api(dashboard.last("summary"))
    usage = dashboard.api(dashboard.last("service-usage"))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(dashboard.last("summary")).query)
    assert query["compareTo"] == ["true"] and query["period"] == ["30d"]
    assert query["includeFunnel"] == query["includeBreakdowns"] == ["true"]

    # And the window line names the window the API answered for, and the one compared with
    line = page.inner_text("#window")
    assert f"{summary['window']['from']} to {summary['window']['to']} (30 days, UTC)" in line
    assert f"compared with {summary['compareTo']['from']} to {summary['compareTo']['to']}" in line

    # And every tile holds the API's value, with its delta
    metrics = summary["metrics"]
    for metric in (
        "uniqueVisitors",
        "totalPageViews",
        "leadCaptureRate",
        "landingPageConversionRate",
        "formCompletionRate",
        "avgTimeToFirstCaptureHrs",
    ):
        assert dashboard.tile(metric) == value(metrics[metric]["value"]), metric
        delta = page.get_attribute(f'[data-metric="{metric}"] .delta', "data-delta")
        assert delta == value(metrics[metric]["delta"]), metric
    leads = sum(day["newLeads"] for day in summary["trend"])
    leads_before = sum(day["newLeads"] for day in summary["compareTrend"])
    assert dashboard.tile("leads") == value(leads)
    assert page.get_attribute('[data-metric="leads"] .delta', "data-delta") == value(
        (leads - leads_before) / leads_before
    )
    assert (
        page.inner_text('[data-metric="uniqueVisitors"] .value') == f"{metrics['uniqueVisitors']['value']:,}"
    )

    # And the days, the funnel and its steps' rates, and ingest health are the API's
    # (each day beside the previous period's day of the same rank, which the chart draws faintly)
    assert dashboard.table("trend") == [
        {
            **rows_of([day])[0],
            **{f"previous{name[0].upper()}{name[1:]}": cell for name, cell in rows_of([before])[0].items()},
        }
        for day, before in zip(summary["trend"], summary["compareTrend"], strict=True)
    ]
    assert "drawn faintly behind" in page.inner_text("#trend-hint")
    assert dashboard.table("funnel") == funnel_rows(summary["funnel"])
    # And each breakdown is the API's, row for row and in its order, "(other)" included
    for name in ("sources", "landingPages", "topPages", "devices", "countries"):
        assert summary["breakdowns"][name], name
        assert dashboard.table(name) == rows_of(summary["breakdowns"][name]), name
    assert "(other)" in [row["key"] for row in summary["breakdowns"]["topPages"]]

    # And the property picker offers every property the API knows
    options = page.eval_on_selector_all("#property option", "options => options.map(o => o.value)")
    assert options == ["", *summary["properties"]] and "docs" in options

    ingest = {row["measure"]: row["value"] for row in dashboard.table("ingest")}
    assert ingest["Events accepted"] == value(summary["ingest"]["totalEventsAccepted"])
    assert ingest["Time to first byte, p95"] == value(summary["ingest"]["p95TtfbMs"])

    # And service usage and the funnel by channel are the service-usage answer's
    assert dashboard.tile("totalScansCompleted") == value(usage["usage"]["totalScansCompleted"]["value"])
    assert dashboard.tile("suggestionResolutionRate") == value(
        usage["usage"]["suggestionResolutionRate"]["value"]
    )
    assert dashboard.tile("timeToFirstScan") == value(usage["funnel"]["timeToFirstScanHours"]["median"])
    assert by_key(dashboard.table("funnelByGroup")) == group_rows(usage["funnelByGroup"]["groups"])
    assert [row["day"] for row in dashboard.table("usageTrend")] == [day["day"] for day in usage["trend"]]

    # And the visitors now are what the API answered the page (a count of the last 5 minutes,
    # which moves: the page's own answer, not a second one)
    now_answer = next(r for r in dashboard.metrics_requests if "/v1/metrics/now" in r.url).response()
    assert now_answer is not None and now_answer.status == 200
    now = now_answer.json()
    assert page.get_attribute("#now", "data-visitors") == value(now["visitors"])
    assert f"in the last {now['windowSeconds'] // 60} minutes" in page.inner_text("#now")

    # And the rollups ran minutes ago: the freshness badge is not amber
    assert page.inner_text("#freshness").startswith("Rolled up")
    assert "stale" not in (page.get_attribute("#freshness", "class") or "")

    # And both charts were drawn
    assert (
        page.locator("#trend-chart canvas").count() == 1 and page.locator("#usage-chart canvas").count() == 1
    )
    path = screenshots / "dashboard.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot of the dashboard: {path}")
    dashboard.assert_clean()


def test_window_property_comparison_and_grouping_each_show_the_apis_answer(open_dashboard):
    # Given a signed-in dashboard
    dashboard = open_dashboard()
    dashboard.open()
    dashboard.sign_in()
    page = dashboard.page

    # When the window becomes the last 7 days
    dashboard.after(lambda: page.select_option("#period", "7d"))

    # Then the page asked for it and shows that answer
    summary = dashboard.api(dashboard.last("summary"))
    assert "period=7d" in dashboard.last("summary") and "period=7d" in dashboard.last("service-usage")
    assert dashboard.tile("uniqueVisitors") == value(summary["metrics"]["uniqueVisitors"]["value"])
    assert len(dashboard.table("trend")) == len(summary["trend"])

    # When one property is chosen
    dashboard.after(lambda: page.select_option("#property", "docs"))

    # Then the summary is that property's, and the address keeps the choice
    assert "propertyId=docs" in dashboard.last("summary")
    docs = dashboard.api(dashboard.last("summary"))
    assert dashboard.tile("uniqueVisitors") == value(docs["metrics"]["uniqueVisitors"]["value"])
    assert docs["metrics"]["uniqueVisitors"]["value"] != summary["metrics"]["uniqueVisitors"]["value"]
    assert "property=docs" in page.url and "period=7d" in page.url
    assert dashboard.table("devices") == rows_of(docs["breakdowns"]["devices"])
    # (the visitors now follow the property; service usage, of every tenant, is not asked again)
    assert "propertyId=docs" in dashboard.last("now")
    assert sum("/service-usage" in request.url for request in dashboard.metrics_requests) == 2

    # When the comparison is turned off
    dashboard.after(lambda: page.uncheck("#compare"))

    # Then the page asks without it and shows no deltas
    assert "compareTo" not in dashboard.last("summary")
    assert page.locator(".delta").count() == 0
    assert "no comparison" in page.inner_text("#window")

    # When the funnel is grouped by campaign
    dashboard.after(lambda: page.select_option("#group-by", "utm_campaign"))

    # Then only service usage was asked again, and its groups are the rows
    assert "groupBy=utm_campaign" in dashboard.last("service-usage")
    usage = dashboard.api(dashboard.last("service-usage"))
    assert by_key(dashboard.table("funnelByGroup")) == group_rows(usage["funnelByGroup"]["groups"])
    assert page.inner_text('[data-table="funnelByGroup"] th[data-column="key"] >> nth=0') != ""

    # When custom dates are chosen
    page.select_option("#period", "custom")
    page.fill("#from", summary["window"]["from"])
    page.fill("#to", summary["window"]["from"])
    dashboard.after(lambda: page.press("#to", "Enter"))

    # Then that one day is shown
    assert f"from={summary['window']['from']}&to={summary['window']['from']}" in dashboard.last("summary")
    assert len(dashboard.table("trend")) == 1
    dashboard.assert_clean()


def test_last_months_campaigns_show_their_leads_and_active_tenants(open_dashboard):
    # Given a marketing person with the dashboard open (the README's question: how many leads
    # did last month's campaign bring, and how many became active tenants?)
    dashboard = open_dashboard()
    dashboard.open()
    dashboard.sign_in()
    page = dashboard.page

    # When they choose last month and the funnel by campaign
    dashboard.after(lambda: page.select_option("#period", "last_month"))
    dashboard.after(lambda: page.select_option("#group-by", "utm_campaign"))

    # Then each campaign's row has the leads and active tenants the API counts for last month
    usage = dashboard.api(dashboard.last("service-usage"))
    assert "period=last_month" in dashboard.last("service-usage")
    assert usage["window"]["period"] == "last_month" and usage["window"]["from"].endswith("-01")
    campaigns = {row["key"]: row for row in dashboard.table("funnelByGroup")}
    groups = usage["funnelByGroup"]["groups"]
    assert set(campaigns) == set(groups) and len(groups) > 1
    for campaign, funnel in groups.items():
        assert campaigns[campaign]["leadsCaptured"] == value(funnel["leadsCaptured"]), campaign
        assert campaigns[campaign]["tenantsActive30d"] == value(funnel["tenantsActive30d"]), campaign
    assert sum(funnel["leadsCaptured"] for funnel in groups.values()) > 0
    assert f"{usage['window']['from']} to {usage['window']['to']}" in page.inner_text("#window")
    dashboard.assert_clean()


def test_a_table_downloads_as_csv_with_the_apis_numbers(open_dashboard):
    # Given the dashboard's funnel by channel
    dashboard = open_dashboard()
    dashboard.open()
    dashboard.sign_in()
    usage = dashboard.api(dashboard.last("service-usage"))

    # When its table is downloaded
    with dashboard.page.expect_download() as download:
        dashboard.page.click('[data-csv="funnelByGroup"]')
    saved = download.value

    # Then the file is named after the table and window, and holds the API's rows
    assert saved.suggested_filename == (
        f"funnel-funnelByGroup-{usage['window']['from']}-to-{usage['window']['to']}.csv"
    )
    with open(saved.path(), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["key", *GROUP_COLUMNS]
    assert by_key(rows) == group_rows(usage["funnelByGroup"]["groups"])
    dashboard.assert_clean()


def test_a_wrong_key_is_refused_and_said_so_and_sign_out_forgets_the_key(open_dashboard):
    # Given the dashboard
    dashboard = open_dashboard()
    dashboard.open()
    page = dashboard.page

    # When a wrong key is typed in
    page.fill("#key", "not-the-key")
    page.press("#key", "Enter")

    # Then the sign-in form says so, and keeps nothing
    page.wait_for_selector("#signin-error:not([hidden])")
    assert "not accepted" in page.inner_text("#signin-error")
    assert page.is_visible("#signin") and not page.is_visible("#app")
    assert page.evaluate("sessionStorage.length") == 0

    # When the right key follows, and then Sign out
    dashboard.sign_in()
    assert page.is_visible("#app") and page.evaluate("sessionStorage.length") == 1
    page.click("#signout")

    # Then the key is gone and the sign-in form is back, empty and focused
    assert page.evaluate("sessionStorage.length") == 0
    assert page.is_visible("#signin") and page.input_value("#key") == ""
    assert page.evaluate("document.activeElement.id") == "key"
    # (the refused requests' 401s are the only errors the console shows)
    dashboard.assert_clean(allowed=("status of 401"))


def test_a_property_without_data_is_shown_as_empty(open_dashboard):
    # Given a dashboard opened on a property no page carries
    dashboard = open_dashboard()
    dashboard.open("#property=nobody-tagged-this&period=30d")
    dashboard.sign_in()
    page = dashboard.page

    # Then it says so and what to check, and its tables say they are empty, not broken
    assert page.is_visible("#empty")
    assert 'data-property="nobody-tagged-this"' in page.inner_text("#empty")
    assert dashboard.tile("uniqueVisitors") == "0"
    assert dashboard.table("trend")[0]["uniqueVisitors"] == "0"
    assert {dashboard.state(name) for name in ("sources", "landingPages", "devices", "countries")} == {
        "empty"
    }
    assert not page.is_visible("#problem")
    assert page.get_attribute("#now", "data-visitors") == "0"
    dashboard.assert_clean()


def test_a_window_the_api_refuses_is_said_so_with_what_to_do(open_dashboard):
    # Given a signed-in dashboard
    dashboard = open_dashboard()
    dashboard.open()
    dashboard.sign_in()
    page = dashboard.page

    # When custom dates span more than the API allows (366 days)
    page.select_option("#period", "custom")
    page.fill("#from", "2024-01-01")
    page.fill("#to", "2025-12-31")
    dashboard.after(lambda: page.press("#to", "Enter"))

    # Then the page says the API refused it and what to choose instead, and shows no numbers
    assert page.is_visible("#problem")
    problem = page.inner_text("#problem-text")
    assert problem.startswith("The API refused this query") and "at most 366 days" in problem
    assert page.locator("#tiles .tile").count() == 0
    assert dashboard.state("sources") == "unavailable"

    # When the dates are put in the wrong order
    page.fill("#from", "2025-12-31")
    page.fill("#to", "2025-12-01")
    page.press("#to", "Enter")

    # Then the page says so before asking the API
    assert page.inner_text("#problem-text") == "Choose a first day on or before the last day."
    dashboard.assert_clean(allowed=("status of 422", "status of 400"))


def test_late_rollups_turn_the_freshness_badge_amber(open_dashboard):
    # Given a browser whose clock is three hours past the last rollup
    dashboard = open_dashboard()
    dashboard.page.clock.install(time=datetime.now(UTC) + timedelta(hours=3))
    dashboard.open()

    # When the dashboard shows
    dashboard.sign_in()

    # Then the badge is amber and says the rollup is late
    badge = dashboard.page.locator("#freshness")
    assert "stale" in (badge.get_attribute("class") or "")
    assert "late" in badge.inner_text()
    dashboard.assert_clean()


def test_on_a_phone_it_is_one_column_and_keyboard_and_high_contrast_work(open_dashboard, screenshots):
    # Given a phone-sized screen that asks for more contrast and forced colours
    dashboard = open_dashboard(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = dashboard.page
    page.emulate_media(forced_colors="active", contrast="more")
    dashboard.open()

    # When the key is typed in (the form has the focus) and the window chosen from the keyboard alone
    assert page.evaluate("document.activeElement.id") == "key"
    page.keyboard.type(METRICS_KEY)
    dashboard.after(lambda: page.keyboard.press("Enter"))
    page.focus(".skip")
    focused = [""]
    for _ in range(10):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.dataset.csv || ''"))
        if focused[-1] == "period":
            break
    dashboard.after(lambda: page.keyboard.press("ArrowDown"))

    # Then the next window was chosen
    assert "period=90d" in dashboard.last("summary")

    # And the sections are one column, each as wide as the others
    boxes = [
        page.locator(f'[data-table="{name}"]').bounding_box() for name in ("sources", "devices", "countries")
    ]
    assert len({round(box["x"]) for box in boxes if box}) == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # And the bars are still drawn under forced colours
    bar = page.locator(".meter").first
    assert bar.evaluate("el => getComputedStyle(el).backgroundColor") not in (
        "rgba(0, 0, 0, 0)",
        "transparent",
    )

    # And Tab went from the skip link through the property to the window
    assert focused[:3] == ["", "property", "period"]
    # And so on, through the comparison, sign-out and every table's CSV button
    for _ in range(60):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.dataset.csv || ''"))
    assert {"compare", "signout", "funnel", "funnelByGroup", "ingest", "group-by"} <= set(focused)
    path = screenshots / "dashboard-phone.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot of the dashboard on a phone: {path}")
    dashboard.assert_clean()


def test_the_csp_listener_sees_a_violation(open_dashboard):
    # Given the dashboard, signed in
    dashboard = open_dashboard()
    dashboard.open()
    dashboard.sign_in()

    # When something tries an inline style, as an injected script would
    dashboard.page.evaluate("document.body.setAttribute('style', 'color: red')")

    # Then the policy refuses it and the tests' listener reports it (so "none reported" means it)
    dashboard.page.wait_for_function("window.__cspViolations.length > 0")
    assert dashboard.csp_violations() == ["style-src-attr inline"]
