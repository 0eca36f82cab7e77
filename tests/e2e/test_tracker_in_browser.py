"""The tracker in a real browser. Debian's headless chromium visits pages of a site served
on 127.0.0.1 that carry the one tag; the tag loads ``/funnel.js`` from the local gateway,
whose functions store what it sends in PostgreSQL; the tests check what was stored: page
views (single-page navigations too), engagement, web vitals, forms, custom events, a lead
linked to the visit before it, a retry stored once, nothing from an automated browser the
site did not allow or under Global Privacy Control where the site honours it, and no error
on the host page's console. A screenshot of the landing page is saved under the run's
temporary directory: ``<basetemp>/screenshots/tracker-landing.png`` (by default under
/tmp/pytest-of-<user>/pytest-<n>/)."""

from __future__ import annotations

import gzip
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, Request, Route
from psycopg.rows import dict_row

from funnel_local.gateway import RunningGateway, start_gateway
from tests.browser import Site, eventually, serve_site
from tests.conftest import ADMIN_KEY, REPO

pytestmark = pytest.mark.e2e

UTM = "utm_source=newsletter&utm_medium=email&utm_campaign=launch"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve_site() as running:
        yield running


@pytest.fixture(scope="module")
def gateway(request: pytest.FixtureRequest, database_url: str, site: Site) -> Iterator[RunningGateway]:
    # Every test has a property of its own (see `prop`): all of this module's are configured.
    properties = {property_of(item.name) for item in request.session.items if item.module is request.module}
    env = {
        "DATABASE_URL": database_url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "ALLOWED_ORIGINS": site.origin,
        "PROPERTY_IDS": ",".join(sorted(properties)),
    }
    # With the template's schedules, the rollup every minute, as `make run` has them
    with start_gateway(
        REPO / "template.yaml",
        env_overrides=env,
        run_schedules=True,
        schedule_overrides={"RollupFunction": "rate(1 minute)"},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """The suite's ``db``, without emptying the tables: each test has its own property (and
    addresses), and emptying tables while a closed page's last beacons are being stored
    can deadlock. (It also keeps the day's visitor salt, which each function worker caches.)"""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def address() -> str:
    """An email address no other test uses (leads are one per address, whatever the property)."""
    return f"{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def prop(request: pytest.FixtureRequest) -> str:
    """A property of this test's own: a page closed at the end of a test still sends its last
    beacons, which must not land in the next test's numbers."""
    return property_of(request.node.name)


def property_of(test_name: str) -> str:
    return "test-" + re.sub(r"[^A-Za-z0-9._-]+", "-", test_name)[:100]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@dataclass
class Tab:
    """A page of a fresh browser profile, the errors its console showed, the uncaught
    exceptions it had, and the requests it sent to the API's collection routes."""

    page: Page
    console_errors: list[str]
    exceptions: list[str]
    sent: list[Request]

    def batches(self) -> list[list[dict[str, Any]]]:
        """The events of each POST /v1/events the page sent, in order."""
        return [
            json.loads(request.post_data or "{}")["events"]
            for request in self.sent
            if request.url.endswith("/v1/events")
        ]


def open_tab(browser: Browser, **context_options: Any) -> Tab:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, **context_options)
    page = context.new_page()
    tab = Tab(page, [], [], [])
    page.on(
        "console",
        lambda message: (
            tab.console_errors.append(f"{message.text} {message.location}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: tab.exceptions.append(str(error)))
    page.on("request", lambda request: tab.sent.append(request) if "/v1/" in request.url else None)
    return tab


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    opened = open_tab(browser)
    yield opened
    opened.page.context.close()


def tag(gateway: RunningGateway, prop: str, *attributes: str, allow_automated: bool = True) -> str:
    """The one tag a site adds; the tests' browser is automated, so the site allows that."""
    extra = " ".join((*attributes, "data-allow-automated" if allow_automated else ""))
    return f'<script defer src="{gateway.url}/funnel.js" data-property="{prop}" {extra}></script>'


def html(title: str, body: str, *, head: str = "") -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<link rel="icon" href="data:,">{head}</head>'
        f"<body>{body}</body></html>"
    )


def rows(db: psycopg.Connection, sql: str, *params: Any) -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql, params).fetchall()


def events(db: psycopg.Connection, prop: str) -> list[dict[str, Any]]:
    return rows(
        db,
        "SELECT event_type, event_name, client_event_id, path, title, properties, occurred_at,"
        "       visitor_id, session_id"
        "  FROM events WHERE property_id = %s ORDER BY occurred_at, received_at, event_type",
        prop,
    )


def of_type(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [row for row in rows if row["event_type"] == kind]


def traffic_logs(db: psycopg.Connection, prop: str) -> dict[str, dict[str, Any]]:
    """Each page view's traffic-log row, by its page view's client id."""
    found = rows(
        db,
        "SELECT e.client_event_id, t.* FROM web_traffic_logs t JOIN events e ON e.id = t.event_id"
        " WHERE t.property_id = %s",
        prop,
    )
    return {row["client_event_id"]: row for row in found}


def lead_form(
    gateway: RunningGateway, site: Site, prop: str, *, redirect: str | None, email_type: str = "email"
) -> str:
    """A lead form that also works as a plain HTML post (without JavaScript)."""
    redirect_input = f'<input type="hidden" name="redirect" value="{site.url(redirect)}">' if redirect else ""
    return f"""<form id="newsletter" data-funnel-lead action="{gateway.url}/v1/leads/capture" method="post">
      <input type="hidden" name="propertyId" value="{prop}">
      <input type="{email_type}" name="email" required>
      <label><input type="checkbox" name="consent" value="true"> Email me the launch news</label>
      <input type="hidden" name="consentWordingVersion" value="newsletter-2026-11">
      <input name="fields[company]">{redirect_input}
      <button>Subscribe</button></form>"""


def pin_clock(page: Page) -> None:
    """Take over the page's clock and stop it: it moves only by ``page.clock.run_for``."""
    now = datetime.now(UTC)
    page.clock.install(time=now)
    page.clock.pause_at(now + timedelta(seconds=1))


def hide(page: Page) -> None:
    """The tab goes to the background (headless chromium has no other tab to switch to)."""
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )


def show(page: Page) -> None:
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )


def engagement_of_the_page_view(db: psycopg.Connection, prop: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT engaged_time_ms, scroll_depth_percent FROM web_traffic_logs WHERE property_id = %s", (prop,)
    ).fetchall()


def test_a_visit_is_stored_as_it_happened(gateway, site, tab, db, prop, screenshots):
    # Given a landing page with the tag, a custom event called before the tag loaded, a tall
    # page, a sign-up button, a link of the site's single-page router and a contact form
    stub = (
        "<script>window.funnel=window.funnel||function(){(window.funnel.q=window.funnel.q||[]).push(arguments)};"
        "funnel('early_call',{source:'inline'});</script>"
    )
    site.pages["/landing"] = html(
        "Funnel test landing",
        """<h1>AltContext</h1><p style="height:2400px">Image descriptions for every picture.</p>
        <button id="signup" onclick="funnel('signup_click',{plan:'pro',seats:3,annual:true,coupon:null})">
          Sign up</button>
        <button id="pricing" onclick="document.title='Pricing';history.pushState({},'','/pricing')">
          Pricing</button>
        <form id="contact" action="/thanks" method="get">
          <input name="question"><button>Ask</button></form>""",
        head=stub + tag(gateway, prop),
    )
    site.pages["/thanks"] = html("Thanks", "<p>Thank you.</p>", head=tag(gateway, prop))
    page = tab.page

    # When a visitor arrives from the newsletter, scrolls to the bottom, clicks sign-up, goes
    # to the pricing view, asks a question in the form and lands on the thank-you page
    page.goto(site.url(f"/landing?{UTM}"))
    landing = eventually(lambda: events(db, prop), lambda found: len(found) >= 2)
    page.screenshot(path=screenshots / "tracker-landing.png")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.click("#signup")
    eventually(lambda: events(db, prop), lambda found: len(of_type(found, "custom")) == 2)
    page.click("#pricing")
    eventually(lambda: events(db, prop), lambda found: len(of_type(found, "page_view")) == 2)
    page.fill("#contact input", "Do you describe GIFs?")
    with page.expect_navigation():
        page.click("#contact button")
    stored = eventually(
        lambda: events(db, prop),
        lambda found: len(of_type(found, "page_view")) == 3 and len(of_type(found, "form_submit")) == 1,
    )

    # Then the first request carried the page view and the early call together
    assert sorted(row["event_type"] for row in landing) == ["custom", "page_view"]
    # And the three page views are stored with their paths (the query only gives the
    # campaign), titles, one visitor and one session
    views = of_type(stored, "page_view")
    assert [(view["path"], view["title"]) for view in views] == [
        ("/landing", "Funnel test landing"),
        ("/pricing", "Pricing"),
        ("/thanks", "Thanks"),
    ]
    assert len({row["visitor_id"] for row in stored}) == 1
    assert len({row["session_id"] for row in stored}) == 1
    (session,) = rows(db, "SELECT * FROM sessions WHERE property_id = %s", prop)
    (visitor,) = rows(db, "SELECT visitor_key FROM visitors WHERE property_id = %s", prop)
    expected_session = {
        "landing_path": "/landing",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "launch",
        "page_views": 3,
        "is_conversion": True,
        "device_type": "desktop",
    }
    assert {name: session[name] for name in expected_session} == expected_session
    # (cookieless: no id was kept in the browser, the server derived it)
    assert visitor["visitor_key"].startswith("c:")

    # And the custom events carry their properties, the early one included
    customs = {row["event_name"]: row["properties"] for row in of_type(stored, "custom")}
    landing_view = views[0]["client_event_id"]
    assert customs == {
        "early_call": {"properties": {"source": "inline"}, "pageViewId": landing_view},
        "signup_click": {
            "properties": {"plan": "pro", "seats": 3, "annual": True, "coupon": None},
            "pageViewId": landing_view,
        },
    }

    # And the form's start and submit name it, on the page view it happened in
    forms = [
        (row["event_type"], row["properties"], row["path"]) for row in stored if "form" in row["event_type"]
    ]
    pricing_view = views[1]["client_event_id"]
    assert forms == [
        ("form_start", {"formId": "contact", "pageViewId": pricing_view}, "/pricing"),
        ("form_submit", {"formId": "contact", "pageViewId": pricing_view}, "/pricing"),
    ]

    # And each page view left has its engagement; the landing page its vitals and full scroll
    logs = eventually(
        lambda: traffic_logs(db, prop),
        lambda found: found.get(pricing_view, {}).get("engaged_time_ms") is not None,
    )
    landing_log, pricing_log = logs[landing_view], logs[pricing_view]
    assert landing_log["engaged_time_ms"] > 0 and landing_log["scroll_depth_percent"] == 100
    assert landing_log["ttfb_ms"] is not None and landing_log["fcp_ms"] > 0
    assert landing_log["lcp_ms"] >= landing_log["fcp_ms"]
    assert pricing_log["engaged_time_ms"] > 0 and pricing_log["scroll_depth_percent"] > 0
    assert landing_log["is_entrance"] and not pricing_log["is_entrance"]
    # (sent with the first navigation; again on leaving if an interaction since was slow)
    vitals = of_type(stored, "web_vitals")
    assert vitals and {(row["path"], row["properties"]["pageViewId"]) for row in vitals} == {
        ("/landing", landing_view)
    }
    # (measures are dated with the page view they measure)
    engagement = of_type(stored, "engagement")
    assert {row["occurred_at"] for row in engagement} <= {view["occurred_at"] for view in views}

    # And the browser keeps nothing of it, and nothing went wrong on the host page
    assert page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]") == ["", 0, 0]
    assert page.context.cookies() == []
    assert tab.console_errors == [] and tab.exceptions == []
    assert (screenshots / "tracker-landing.png").stat().st_size > 0


def test_a_lead_is_linked_to_the_visitor_who_browsed_before_it(gateway, site, tab, db, prop, address):
    # Given a campaign's offer page with the tag and a lead form that redirects to a welcome page
    site.pages["/offer"] = html(
        "Offer", lead_form(gateway, site, prop, redirect="/welcome"), head=tag(gateway, prop)
    )
    site.pages["/welcome"] = html("Welcome", "<p>Welcome aboard.</p>", head=tag(gateway, prop))
    page = tab.page
    page.goto(site.url("/offer?utm_source=partner&utm_medium=referral&utm_campaign=spring"))
    (view,) = eventually(lambda: events(db, prop), lambda found: len(found) == 1)

    # When the visitor fills the form in and subscribes
    page.fill("input[name=email]", address.upper())
    page.check("input[name=consent]")
    page.fill("input[name='fields[company]']", "Analytical Engines")
    with page.expect_navigation(url=site.url("/welcome")):
        page.click("button")

    # Then the lead is stored once, for the visitor (and session) of that page view, with the
    # campaign of their first visit, the form's other input and express consent
    (lead,) = eventually(
        lambda: rows(db, "SELECT * FROM leads WHERE property_id = %s", prop), lambda found: len(found) == 1
    )
    identities = rows(db, "SELECT lead_id, visitor_id FROM lead_identities WHERE lead_id = %s", lead["id"])
    (submission,) = rows(db, "SELECT * FROM form_submissions WHERE lead_id = %s", lead["id"])
    consent = rows(
        db, "SELECT status, source, wording_version FROM consent_records WHERE lead_id = %s", lead["id"]
    )
    assert lead["email_normalized"] == address
    assert lead["visitor_id"] == view["visitor_id"]
    assert identities == [{"lead_id": lead["id"], "visitor_id": view["visitor_id"]}]
    assert (lead["first_touch_utm_source"], lead["first_touch_utm_campaign"]) == ("partner", "spring")
    assert (submission["form_id"], submission["path"], submission["payload"]) == (
        "newsletter",
        "/offer",
        {"company": "Analytical Engines"},
    )
    assert (submission["visitor_id"], submission["session_id"]) == (view["visitor_id"], view["session_id"])
    assert consent == [
        {"status": "granted", "source": "form:newsletter", "wording_version": "newsletter-2026-11"}
    ]

    # And the form's start and submit are events of that page view, the session converted
    stored = eventually(lambda: events(db, prop), lambda found: len(of_type(found, "form_submit")) == 1)
    assert [
        (row["event_type"], row["properties"]["formId"]) for row in stored if "form" in row["event_type"]
    ] == [
        ("form_start", "newsletter"),
        ("form_submit", "newsletter"),
    ]
    assert rows(db, "SELECT is_conversion FROM sessions WHERE property_id = %s", prop) == [
        {"is_conversion": True}
    ]
    assert tab.console_errors == [] and tab.exceptions == []


def test_the_same_form_without_javascript_posts_itself_and_links_the_same_visitor(
    gateway, site, browser, db, prop, address
):
    # Given a visitor who browsed the offer page with the tracker running
    site.pages["/offer"] = html(
        "Offer", lead_form(gateway, site, prop, redirect="/welcome"), head=tag(gateway, prop)
    )
    site.pages["/welcome"] = html("Welcome", "<p>Welcome aboard.</p>")
    with_script = open_tab(browser)
    with_script.page.goto(site.url("/offer?utm_campaign=spring"))
    (view,) = eventually(lambda: events(db, prop), lambda found: len(found) == 1)

    # When the same browser, with JavaScript off, posts the form
    without_script = open_tab(browser, java_script_enabled=False)
    page = without_script.page
    page.goto(site.url("/offer"))
    page.fill("input[name=email]", address)
    with page.expect_navigation(url=site.url("/welcome")):
        page.click("button")

    # Then the API answered the plain post with its redirect, and the lead belongs to the
    # visitor the server derived for that browser that day: the one who browsed before
    assert rows(
        db,
        "SELECT visitor_id, first_touch_utm_campaign, consent_status FROM leads WHERE property_id = %s",
        prop,
    ) == [{"visitor_id": view["visitor_id"], "first_touch_utm_campaign": "spring", "consent_status": "none"}]
    for opened in (with_script, without_script):
        opened.page.context.close()


def test_a_lead_form_without_a_redirect_tells_the_page_how_it_went(gateway, site, tab, db, prop, address):
    # Given a lead form that stays on the page (no redirect), listened to by the site
    site.pages["/stay"] = html(
        "Stay",
        lead_form(gateway, site, prop, redirect=None, email_type="text")
        + "<script>addEventListener('funnel:lead', e => { window.outcome = e.detail })</script>",
        head=tag(gateway, prop),
    )
    page = tab.page
    page.goto(site.url("/stay"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    form = page.locator("#newsletter")

    # When an address the API refuses is sent, then a good one
    page.fill("input[name=email]", "not an address")
    page.click("button")
    page.wait_for_function("window.outcome !== undefined")
    refused = page.evaluate("window.outcome")
    state_after_refusal = form.get_attribute("data-funnel-state")
    page.evaluate("window.outcome = undefined")
    page.fill("input[name=email]", address)
    page.click("button")
    page.wait_for_function("window.outcome !== undefined")

    # Then the page was told each outcome, stayed where it was, and only the good one is a lead
    assert (refused, state_after_refusal) == ({"ok": False, "status": 422}, "failed")
    assert (page.evaluate("window.outcome"), form.get_attribute("data-funnel-state")) == (
        {"ok": True, "status": 201},
        "sent",
    )
    assert page.url == site.url("/stay")
    assert rows(db, "SELECT email_normalized FROM leads WHERE property_id = %s", prop) == [
        {"email_normalized": address}
    ]
    assert tab.exceptions == []


@pytest.mark.parametrize(
    ("site_visitor_id", "visitor_key"),
    [("vis12345", "v:vis12345"), ("vis1234", None)],
    ids=["eight-characters-kept", "seven-characters-ignored"],
)
def test_a_site_that_keeps_its_own_visitor_id_passes_it(
    gateway, site, tab, db, prop, address, site_visitor_id, visitor_key
):
    # Given a site that passes its own anonymous id (at least 8 of [A-Za-z0-9_-] to be used)
    site.pages["/own-id"] = html(
        "Own id",
        lead_form(gateway, site, prop, redirect=None),
        head=tag(gateway, prop, f'data-visitor-id="{site_visitor_id}"'),
    )
    page = tab.page

    # When the visitor browses and leaves an address
    page.goto(site.url("/own-id"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    page.fill("input[name=email]", address)
    page.click("button")
    (lead,) = eventually(
        lambda: rows(
            db,
            "SELECT v.visitor_key FROM leads l JOIN visitors v ON v.id = l.visitor_id"
            " WHERE l.property_id = %s",
            prop,
        ),
        lambda found: len(found) == 1,
    )

    # Then events and lead share the site's visitor (a malformed id is ignored: cookieless)
    (visitor,) = rows(db, "SELECT visitor_key FROM visitors WHERE property_id = %s", prop)
    assert lead == visitor
    if visitor_key is None:
        assert visitor["visitor_key"].startswith("c:")
    else:
        assert visitor["visitor_key"] == visitor_key


def test_a_send_whose_answer_was_lost_is_retried_once_after_3_s_and_stored_once(
    gateway, site, browser, db, prop
):
    # Given a browser whose beacons are refused (sendBeacon answers false, as when its quota
    # is used up), so the tracker sends with fetch, and whose first answer is lost after the
    # API stored the events
    tab = open_tab(browser)
    page = tab.page
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'sendBeacon', {value: () => false})")
    answers: list[dict[str, Any]] = []

    def lose_the_first_answer(route: Route, request: Request) -> None:
        response = route.fetch()
        answers.append(response.json())
        if len(answers) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    page.route(f"{gateway.url}/v1/events", lose_the_first_answer)
    site.pages["/retry"] = html("Retry", "<p>Flaky network.</p>", head=tag(gateway, prop))
    pin_clock(page)

    # When the page view is sent, and the clock then moves 2999 ms, 1 ms and 10 s more
    page.goto(site.url("/retry"))
    eventually(lambda: answers, lambda seen: len(seen) == 1, page=page)
    page.clock.run_for(2999)
    page.wait_for_timeout(500)
    before_the_delay = len(tab.sent)
    page.clock.run_for(1)
    eventually(lambda: answers, lambda seen: len(seen) == 2, page=page)
    page.clock.run_for(10_000)

    # Then the same events went again once, at 3 s, and were stored once: the retry counted
    # as a duplicate
    assert before_the_delay == 1 and len(tab.sent) == 2
    assert tab.sent[0].post_data == tab.sent[1].post_data
    assert answers == [
        {"ok": True, "accepted": 1, "duplicates": 0, "ignored": 0},
        {"ok": True, "accepted": 0, "duplicates": 1, "ignored": 0},
    ]
    assert [row["event_type"] for row in events(db, prop)] == ["page_view"]
    assert rows(
        db,
        "SELECT sum(count) AS n FROM ingest_counters WHERE outcome = 'duplicate' AND property_id = %s",
        prop,
    ) == [{"n": 1}]
    assert tab.exceptions == []
    page.context.close()


def test_an_automated_browser_sends_nothing_unless_the_site_allows_it(gateway, site, tab, db, prop):
    # Given a page whose tag does not allow automated browsers, and one whose tag does
    site.pages["/strict"] = html(
        "Strict",
        "<button onclick=\"funnel('clicked')\">Click</button>",
        head=tag(gateway, prop, allow_automated=False),
    )
    site.pages["/allowing"] = html("Allowing", "<p>Tests welcome.</p>", head=tag(gateway, prop))
    page = tab.page

    # When this automated browser (navigator.webdriver) opens the first, clicks and leaves
    # for the second
    page.goto(site.url("/strict"))
    page.click("button")
    page.goto(site.url("/allowing"))
    stored = eventually(lambda: events(db, prop), lambda found: len(found) == 1, page=page)

    # Then only the allowing page's view was sent and stored; funnel() was there and harmless
    assert [(row["event_type"], row["path"]) for row in stored] == [("page_view", "/allowing")]
    assert [request.url for request in tab.sent] == [f"{gateway.url}/v1/events"]
    assert tab.console_errors == [] and tab.exceptions == []


def test_global_privacy_control_stops_everything_where_the_site_honours_it(gateway, site, browser, db, prop):
    # Given a browser that signals Global Privacy Control, a site page that honours it and
    # one that does not
    tab = open_tab(browser, extra_http_headers={"Sec-GPC": "1"})
    tab.page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    site.pages["/honouring"] = html(
        "Honouring",
        "<button onclick=\"funnel('clicked')\">Click</button>",
        head=tag(gateway, prop, "data-respect-gpc"),
    )
    site.pages["/ignoring"] = html("Ignoring", "<p>Counts anyway.</p>", head=tag(gateway, prop))
    page = tab.page

    # When the visitor opens the honouring page, clicks, and goes on to the other
    page.goto(site.url("/honouring"))
    page.click("button")
    page.goto(site.url("/ignoring"))
    stored = eventually(lambda: events(db, prop), lambda found: len(found) == 1, page=page)

    # Then nothing was sent from the honouring page
    assert [(row["event_type"], row["path"]) for row in stored] == [("page_view", "/ignoring")]
    assert len(tab.sent) == 1
    assert tab.console_errors == [] and tab.exceptions == []
    page.context.close()


def test_engagement_counts_only_visible_time_and_is_sent_again_only_when_it_grew(
    gateway, site, tab, db, prop
):
    # Given a page opened with the browser's clock under the test's control
    site.pages["/read"] = html("Read", "<p>A short article.</p>", head=tag(gateway, prop))
    page = tab.page
    pin_clock(page)
    page.goto(site.url("/read"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)

    # When it is visible 4 s, hidden 60 s, visible 1 s more, then hidden twice in a row
    page.clock.run_for(4000)
    hide(page)
    first = eventually(lambda: engagement_of_the_page_view(db, prop), lambda rows: rows[0][0] is not None)
    page.clock.run_for(60_000)
    show(page)
    page.clock.run_for(1000)
    hide(page)
    second = eventually(lambda: engagement_of_the_page_view(db, prop), lambda rows: rows[0][0] == 5000)
    hide(page)
    page.wait_for_timeout(300)

    # Then the page view's engagement is 4 s, then 5 s (the hidden minute does not count),
    # the whole short page was seen, and a hide with nothing new sends nothing
    assert (first, second) == ([(4000, 100)], [(5000, 100)])
    engagements = [[event["type"] for event in batch].count("engagement") for batch in tab.batches()]
    assert engagements == [0, 1, 1]
    assert tab.exceptions == []


@pytest.mark.parametrize(
    ("visible_ms", "stored_ms"),
    [(86_399_999, 86_399_999), (86_400_001, 86_400_000)],
    ids=["under-a-day", "over-a-day-capped"],
)
def test_engagement_is_capped_at_a_day_rather_than_refused(
    gateway, site, tab, db, prop, visible_ms, stored_ms
):
    # Given a page left visible for about a day (the API refuses more than 86,400,000 ms)
    site.pages["/open"] = html("Open", "<p>Left open.</p>", head=tag(gateway, prop))
    page = tab.page
    pin_clock(page)
    page.goto(site.url("/open"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)

    # When the tab is hidden after that time
    page.clock.run_for(visible_ms)
    hide(page)

    # Then its engagement is stored, at most a day
    assert eventually(lambda: engagement_of_the_page_view(db, prop), lambda rows: rows[0][0] is not None) == [
        (stored_ms, 100)
    ]


def test_web_vitals_of_the_page_load_are_measured_by_the_browser(gateway, site, tab, db, prop):
    # Given a page whose banner pushes the content down after it is shown (a layout shift)
    # and whose button keeps the main thread busy for 150 ms (a slow interaction)
    site.pages["/vitals"] = html(
        "Vitals",
        """<h1>Vitals</h1><p>Paragraph that moves.</p>
        <button id="slow" onclick="const t = performance.now(); while (performance.now() - t < 150) {}">
          Slow</button>
        <script>setTimeout(() => { const banner = document.createElement('div');
          banner.id = 'banner'; banner.style.height = '300px'; banner.textContent = 'Sale!';
          document.body.prepend(banner) }, 200)</script>""",
        head=tag(gateway, prop),
    )
    site.pages["/next"] = html("Next", "<p>Next.</p>")
    page = tab.page

    # When the visitor waits for the banner, clicks the slow button, and leaves
    page.goto(site.url("/vitals"))
    page.wait_for_selector("#banner")
    page.wait_for_timeout(600)
    page.click("#slow")
    page.wait_for_timeout(300)
    page.goto(site.url("/next"))

    # Then all five vitals are stored on the page view
    row = eventually(
        lambda: db.execute(
            "SELECT ttfb_ms, fcp_ms, lcp_ms, cls_score, inp_ms FROM web_traffic_logs WHERE property_id = %s",
            (prop,),
        ).fetchone(),
        lambda found: found is not None and found[0] is not None,
    )
    ttfb, fcp, lcp, cls, inp = row
    assert 0 <= ttfb <= fcp <= lcp
    assert cls > 0
    assert inp >= 150
    assert tab.console_errors == [] and tab.exceptions == []


def test_single_page_navigation_counts_new_paths_and_leaves_the_site_s_history_calls_as_they_were(
    gateway, site, tab, db, prop
):
    # Given a single-page app with the tag
    site.pages["/app"] = html("App", "<main>App shell</main>", head=tag(gateway, prop))
    page = tab.page
    page.goto(site.url("/app"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)

    # When its router pushes a path, replaces the query only, goes back, and tries a path
    # of another origin (which the browser refuses)
    returned = page.evaluate("history.pushState({}, '', '/app/settings')")
    page.evaluate("history.replaceState({}, '', '/app/settings?tab=billing')")
    with page.expect_event("framenavigated"):
        page.evaluate("history.back()")
    refused = page.evaluate(
        "(() => { try { history.pushState({}, '', 'https://elsewhere.example/'); return 'allowed' }"
        " catch (error) { return error.name } })()"
    )
    stored = eventually(
        lambda: events(db, prop),
        lambda found: len(of_type(found, "page_view")) == 3 and len(of_type(found, "engagement")) >= 2,
    )

    # Then a page view is counted per new path (not for the query), the site's calls return
    # and fail as the browser's own do, and each page view left has its engagement
    assert [row["path"] for row in of_type(stored, "page_view")] == ["/app", "/app/settings", "/app"]
    assert (returned, refused) == (None, "SecurityError")
    views = [row["client_event_id"] for row in of_type(stored, "page_view")]
    assert [row["properties"]["pageViewId"] for row in of_type(stored, "engagement")] == views[:2]
    assert tab.exceptions == []


def test_a_page_restored_from_the_back_forward_cache_is_a_new_page_view(gateway, site, tab, db, prop):
    # Given a page the visitor leaves (engagement sent) and comes back to from the
    # back/forward cache (headless chromium keeps none: its pagehide and pageshow are sent)
    site.pages["/cached"] = html("Cached", "<p>Kept in memory.</p>", head=tag(gateway, prop))
    page = tab.page
    page.goto(site.url("/cached"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)

    # When it is hidden and restored
    page.evaluate("dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}))")
    page.evaluate("dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")

    # Then the return is a second page view of the path
    stored = eventually(
        lambda: events(db, prop),
        lambda found: len(of_type(found, "page_view")) == 2 and len(of_type(found, "engagement")) >= 1,
    )
    assert [row["path"] for row in of_type(stored, "page_view")] == ["/cached", "/cached"]
    assert len(of_type(stored, "engagement")) == 1


def test_a_prerendered_page_counts_only_once_the_visitor_sees_it(gateway, site, tab, db, prop):
    # Given a page the browser prerenders (chromium prerenders on a site's speculation rules;
    # here document.prerendering says so)
    tab.page.add_init_script(
        "Object.defineProperty(document, 'prerendering', {configurable: true, get: () => true})"
    )
    site.pages["/prerendered"] = html(
        "Prerendered", "<p>Ready before the click.</p>", head=tag(gateway, prop)
    )
    page = tab.page
    page.goto(site.url("/prerendered"))
    page.wait_for_timeout(500)
    sent_while_prerendering = len(tab.sent)

    # When the visitor navigates to it (activation)
    page.evaluate(
        "Object.defineProperty(document, 'prerendering', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('prerenderingchange'))"
    )

    # Then nothing was sent before, and the page view after
    stored = eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    assert sent_while_prerendering == 0
    assert [(row["event_type"], row["path"]) for row in stored] == [("page_view", "/prerendered")]


def test_custom_events_keep_to_what_the_api_accepts_and_never_throw(gateway, site, tab, db, prop):
    # Given a page with the tag
    site.pages["/events"] = html("Events", "<p>Events.</p>", head=tag(gateway, prop))
    page = tab.page
    page.goto(site.url("/events"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)

    # When the site calls funnel() with names and properties the API would refuse, and with
    # arguments that throw
    result = page.evaluate(
        """() => {
        funnel('bad name!');
        funnel('x'.repeat(65));
        funnel('n'.repeat(64));
        funnel();
        funnel(42);
        const many = {};
        for (let i = 0; i < 21; i++) many['p' + String(i).padStart(2, '0')] = i;
        funnel('many', many);
        funnel('values', {
          exact: 'c'.repeat(256), over: 'd'.repeat(257), emoji: 'a'.repeat(255) + '\\u{1F600}',
          pair: 'b'.repeat(254) + '\\u{1F600}', nul: 'a\\u0000b', lone: 'x\\ud800y',
          nan: NaN, infinite: Infinity, object: {}, array: [1], fn: () => 1, 'bad key': 1,
          yes: true, none: null, float: 2.5,
        });
        funnel('throws', {get boom() { throw new Error('boom') }});
        return 'returned';
      }"""
    )
    stored = eventually(lambda: events(db, prop), lambda found: len(of_type(found, "custom")) == 3, page=page)

    # Then what could not be sent was dropped or cut, nothing escaped, and one request went
    customs = {row["event_name"]: row["properties"].get("properties") for row in of_type(stored, "custom")}
    assert result == "returned"
    assert customs == {
        "n" * 64: None,
        "many": {f"p{i:02d}": i for i in range(20)},
        "values": {
            "exact": "c" * 256,
            "over": "d" * 256,
            "emoji": "a" * 255,
            "pair": "b" * 254 + "\U0001f600",
            "nul": "ab",
            "lone": "xy",
            "yes": True,
            "none": None,
            "float": 2.5,
        },
    }
    assert [len(batch) for batch in tab.batches()] == [1, 3]
    assert tab.console_errors == [] and tab.exceptions == []


@pytest.mark.parametrize(("calls", "batch_sizes"), [(100, [100]), (101, [100, 1])])
def test_a_burst_of_events_leaves_in_requests_of_at_most_100(
    gateway, site, tab, db, prop, calls, batch_sizes
):
    # Given a page whose script records many events at once (the API takes 100 per request)
    site.pages["/burst"] = html("Burst", "<p>Burst.</p>", head=tag(gateway, prop))
    page = tab.page
    page.goto(site.url("/burst"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1, page=page)

    # When it calls funnel() that many times in one go
    page.evaluate(f"for (let i = 0; i < {calls}; i++) funnel('bulk', {{i}})")

    # Then they leave in as few requests as the limit allows, and all are stored
    stored = eventually(
        lambda: events(db, prop), lambda found: len(of_type(found, "custom")) == calls, page=page
    )
    assert sorted(row["properties"]["properties"]["i"] for row in of_type(stored, "custom")) == list(
        range(calls)
    )
    # (Playwright hands the page's request events over during its own calls, so they may
    # trail what PostgreSQL already shows: read them through the page)
    sizes = eventually(
        lambda: [len(batch) for batch in tab.batches()][1:], lambda found: found == batch_sizes, page=page
    )
    assert sizes == batch_sizes


@pytest.mark.parametrize(
    ("title", "stored_title"),
    [("T" * 512, "T" * 512), ("T" * 513, "T" * 512), ("T" * 511 + "\U0001f600", "T" * 511)],
    ids=["512-kept", "513-cut", "cut-inside-an-emoji"],
)
def test_a_long_title_is_cut_to_what_the_api_stores(gateway, site, tab, db, prop, title, stored_title):
    site.pages["/titled"] = html(title, "<p>Long title.</p>", head=tag(gateway, prop))
    tab.page.goto(site.url("/titled"))
    (view,) = eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    assert view["title"] == stored_title


@pytest.mark.parametrize("length", [4096, 4097], ids=["4096-kept", "4097-cut"])
def test_a_long_address_is_cut_rather_than_refused(gateway, site, tab, db, prop, length):
    # Given a page whose path and query are that long (the API takes 4096 characters)
    site.pages["/long"] = html("Long", "<p>Long address.</p>", head=tag(gateway, prop))

    # When the visitor opens it
    tab.page.goto(site.url("/long?q=" + "a" * (length - len("/long?q="))))

    # Then its page view is stored (only the path is kept)
    (view,) = eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    assert view["path"] == "/long"


@pytest.mark.parametrize("length", [2048, 2049], ids=["2048-kept", "2049-cut"])
def test_a_long_referrer_is_cut_rather_than_refused(gateway, site, tab, db, prop, length):
    # Given a page whose whole address is that long, linking to the page with the tag (the
    # API takes referrers of 2048 characters)
    site.pages["/from"] = html("From", '<a id="next" href="/to">Next</a>')
    site.pages["/to"] = html("To", "<p>Arrived.</p>", head=tag(gateway, prop))
    page = tab.page
    start = site.url("/from?q=")
    page.goto(start + "a" * (length - len(start)))

    # When the visitor follows the link (the address is the next page's referrer)
    page.click("#next")

    # Then the next page's view is stored
    (view,) = eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    assert view["path"] == "/to" and page.evaluate("document.referrer.length") == length


def test_the_metrics_count_the_visit_its_form_and_its_lead(gateway, site, tab, db, prop, address):
    # Given a visitor who came from a campaign and subscribed through the lead form
    site.pages["/offer"] = html(
        "Offer", lead_form(gateway, site, prop, redirect="/welcome"), head=tag(gateway, prop)
    )
    site.pages["/welcome"] = html("Welcome", "<p>Welcome aboard.</p>", head=tag(gateway, prop))
    page = tab.page
    page.goto(site.url("/offer?utm_source=partner&utm_campaign=spring"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    page.fill("input[name=email]", address)
    with page.expect_navigation(url=site.url("/welcome")):
        page.click("button")
    eventually(
        lambda: events(db, prop),
        lambda found: len(of_type(found, "page_view")) == 2 and len(of_type(found, "form_submit")) == 1,
    )

    # When the local schedule's next rollup runs (through the function, with the template's
    # input), and today's summary is asked for
    today = datetime.now(UTC).date()
    scheduler = gateway.scheduler
    assert scheduler is not None
    (rollup,) = [schedule for schedule in scheduler.schedules if schedule.function_id == "RollupFunction"]
    due = scheduler.next_firing(rollup)
    assert due is not None
    for invocation in scheduler.fire_due(due):
        invocation.join(120)
    query = urllib.parse.urlencode(
        {"from": today.isoformat(), "to": today.isoformat(), "propertyId": prop, "includeFunnel": "true"}
    )
    request = urllib.request.Request(
        f"{gateway.url}/v1/metrics/summary?{query}", headers={"x-admin-key": ADMIN_KEY}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        summary = json.loads(response.read())

    # Then the visit, its form and its lead are counted
    metrics = summary["metrics"]
    assert metrics["uniqueVisitors"]["value"] == 1
    assert metrics["totalPageViews"]["value"] == 2
    assert metrics["formCompletionRate"]["value"] == 1.0
    assert metrics["leadCaptureRate"]["value"] == 1.0
    assert metrics["landingPageConversionRate"]["value"] == 1.0
    assert summary["funnel"]["leadsCaptured"] == 1
    assert summary["trend"] == [
        {"day": today.isoformat(), "uniqueVisitors": 1, "pageViews": 2, "newLeads": 1}
    ]


def test_the_tracker_is_served_gzipped_with_a_validator_and_revalidated_with_304(gateway):
    # Given a browser's first request for the tracker
    first = urllib.request.Request(f"{gateway.url}/funnel.js", headers={"Accept-Encoding": "gzip, br"})
    with urllib.request.urlopen(first, timeout=30) as response:
        headers, body = response.headers, response.read()

    # When it asks again with the ETag it got
    again = urllib.request.Request(
        f"{gateway.url}/funnel.js", headers={"Accept-Encoding": "gzip, br", "If-None-Match": headers["ETag"]}
    )
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(again, timeout=30)

    # Then the first answer is the committed file, gzipped, and the second 304 without a body
    assert headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == (REPO / "functions" / "assets" / "static" / "funnel.js").read_bytes()
    assert not_modified.value.code == 304 and not_modified.value.read() == b""
    assert not_modified.value.headers["ETag"] == headers["ETag"]


def test_a_lead_form_posts_itself_when_the_api_cannot_be_reached(gateway, site, tab, db, prop, address):
    # Given the lead form, and a network that drops the tracker's request to the API
    site.pages["/offer"] = html(
        "Offer", lead_form(gateway, site, prop, redirect="/welcome"), head=tag(gateway, prop)
    )
    site.pages["/welcome"] = html("Welcome", "<p>Welcome aboard.</p>")
    page = tab.page
    page.route(
        f"{gateway.url}/v1/leads/capture",
        lambda route, request: route.abort() if request.resource_type == "fetch" else route.continue_(),
    )
    page.goto(site.url("/offer"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)

    # When the visitor subscribes
    page.fill("input[name=email]", address)
    with page.expect_navigation(url=site.url("/welcome")):
        page.click("button")

    # Then the form posted itself as it would without JavaScript, and the lead is there once
    assert rows(db, "SELECT email_normalized FROM leads WHERE property_id = %s", prop) == [
        {"email_normalized": address}
    ]
    assert tab.exceptions == []


def test_a_second_click_while_the_lead_is_on_its_way_sends_nothing_more(
    gateway, site, tab, db, prop, address
):
    # Given the lead form staying on the page, and the API's answer held back
    site.pages["/stay"] = html("Stay", lead_form(gateway, site, prop, redirect=None), head=tag(gateway, prop))
    site.pages["/next"] = html("Next", "<p>Next.</p>")
    page = tab.page
    held: list[Route] = []
    page.route(f"{gateway.url}/v1/leads/capture", lambda route, request: held.append(route))
    page.goto(site.url("/stay"))
    eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    form = page.locator("#newsletter")

    # When the visitor clicks twice before the answer, which then arrives, and leaves
    page.fill("input[name=email]", address)
    page.click("button")
    page.click("button")
    eventually(lambda: held, lambda routes: len(routes) == 1, page=page)
    page.wait_for_timeout(300)
    held_while_sending = (len(held), form.get_attribute("data-funnel-state"))
    held[0].continue_()
    page.wait_for_function("document.querySelector('#newsletter').dataset.funnelState === 'sent'")
    page.goto(site.url("/next"))

    # Then one capture went, one lead and one form submit were stored
    stored = eventually(lambda: events(db, prop), lambda found: len(of_type(found, "form_submit")) >= 1)
    assert held_while_sending == (1, "sending")
    assert rows(db, "SELECT count(*) AS n FROM form_submissions WHERE property_id = %s", prop) == [{"n": 1}]
    assert len(of_type(stored, "form_submit")) == 1
    assert tab.exceptions == []


def test_data_api_sends_to_the_api_wherever_the_script_is_served_from(gateway, site, tab, db, prop):
    # Given a site that serves the tracker from its own origin and names the API in data-api
    script = (REPO / "functions" / "assets" / "static" / "funnel.js").read_bytes()
    site.files["/js/funnel.js"] = ("application/javascript", script)
    site.pages["/self-hosted"] = html(
        "Self-hosted",
        "<p>Own copy.</p>",
        head=f'<script defer src="/js/funnel.js" data-property="{prop}" data-api="{gateway.url}/"'
        " data-allow-automated></script>",
    )

    # When a visitor opens the page
    tab.page.goto(site.url("/self-hosted"))

    # Then the page view reached the API
    stored = eventually(lambda: events(db, prop), lambda found: len(found) == 1)
    assert [(row["event_type"], row["path"]) for row in stored] == [("page_view", "/self-hosted")]
    assert all(request.url.startswith(f"{gateway.url}/v1/") for request in tab.sent)
