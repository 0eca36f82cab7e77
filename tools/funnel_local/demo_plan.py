"""What ``make demo`` sends: a seeded plan of days of two sites and of the description
service, as the requests Funnel would receive, each with the moment it arrives.

Nothing here touches a database: :func:`build_plan` is a pure function of its options (a
seed, the number of days, a scale and the moment "now"), so the same options give the same
requests. :mod:`funnel_local.demo` sends them through the handlers.

The story, per property and day (traffic grows by about 80 % over the period):

* new visitors arrive from every channel (direct, organic and paid search, social, email,
  referral) on desktops, phones and tablets, from a dozen countries
  (``CloudFront-Viewer-Country``); most carry the site's own visitor id, the rest are
  counted cookieless; earlier visitors with an id come back. A visit is one or two sessions
  of a few page views, with web vitals and engagement where the browser measures them,
  custom events, forms started (some abandoned) and submitted; campaigns carry UTM
  parameters and click ids;
* some visitors leave their address on a form, most with express consent, a few by a plain
  HTML form post; what they did before arrives first, as the tracker sends it, so the lead
  is linked to its visits and first touch. Every day at least one lead comes, from each
  channel in turn;
* some leads sign up for the description service hours or days later (``tenant.created``
  with the lead's address; every tenant comes from a lead), create an API key and run scans
  (some fail) that find identities and generate suggestions, get clusters and resolve
  suggestions, every few days, until some stop;
* and what sites also send: malformed beacons (refused and counted as rejected), retried
  beacons (duplicates) and crawler hits (counted as bots).

Beacons of visitors with an id are sent at the end of their day, several visitors with the
same browser and country in one request (the server keeps each visitor apart by id); a
cookieless visitor's are a request of their own, since their address and browser are their
identity.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, TypeVar

_T = TypeVar("_T")

CHANNELS: Final = ("direct", "organic_search", "paid_search", "social", "email", "referral")
CHANNEL_WEIGHTS: Final = (25, 30, 12, 10, 10, 13)
# The chance a new visitor's session ends with a lead, by channel.
LEAD_CHANCE: Final = {
    "direct": 0.035,
    "organic_search": 0.03,
    "paid_search": 0.06,
    "social": 0.03,
    "email": 0.08,
    "referral": 0.05,
}
RETURNING_LEAD_CHANCE: Final = 0.05
COOKIELESS_SHARE: Final = 0.2
CONSENT_SHARE: Final = 0.8
FORM_POST_SHARE: Final = 0.15
GROWTH: Final = 0.8
COUNTRIES: Final = (
    ("US", 30),
    ("CA", 15),
    ("GB", 10),
    ("DE", 8),
    ("IN", 8),
    ("FR", 6),
    ("AU", 5),
    ("BR", 5),
    ("NL", 4),
    ("JP", 4),
    (None, 5),  # CloudFront could not tell
)
# (user agent, share of visitors): desktops, phones and tablets, as funnel.capture.classify reads them.
USER_AGENTS: Final = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        30,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
        15,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", 6),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        6,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        18,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        15,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/12.1 Mobile/15E148 Safari/604.1",
        4,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        3,
    ),
)
CRAWLER: Final = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# Each browser with three countries: every device type is there, and the visitors of a
# site and day share few enough requests.
PROFILE_COUNTRIES: Final = 3
# Documentation address blocks (RFC 5737): nothing real.
NETWORKS: Final = ("198.51.100", "203.0.113", "192.0.2")
FIRST_NAMES: Final = ("ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "linus", "radia")
LAST_NAMES: Final = ("lovelace", "hopper", "turing", "dijkstra", "liskov", "thompson", "hamilton")
COMPANIES: Final = ("northwind", "contoso", "fabrikam", "initech", "globex", "umbrella", "hooli")
# Nothing is planned closer to "now" than this.
_MARGIN: Final = timedelta(minutes=1)


@dataclass(frozen=True)
class Site:
    """A property: its id, origin, pages, lead forms (page, form id) and traffic."""

    property_id: str
    origin: str
    title: str
    pages: tuple[str, ...]
    landing_pages: tuple[str, ...]
    lead_forms: tuple[tuple[str, str], ...]
    new_visitors_per_day: float


SITES: Final = (
    Site(
        property_id="default",
        origin="https://www.altcontext.example",
        title="AltContext",
        pages=(
            "/",
            "/pricing",
            "/features",
            "/customers",
            "/about",
            "/blog",
            "/blog/alt-text-at-scale",
            "/blog/identity-clusters",
            "/signup",
            "/contact",
        ),
        landing_pages=(
            "/",
            "/",
            "/pricing",
            "/features",
            "/blog/alt-text-at-scale",
            "/blog/identity-clusters",
        ),
        lead_forms=(("/signup", "signup"), ("/contact", "contact"), ("/blog", "newsletter")),
        new_visitors_per_day=20.0,
    ),
    Site(
        property_id="docs",
        origin="https://docs.altcontext.example",
        title="AltContext Docs",
        pages=(
            "/",
            "/getting-started",
            "/api/scans",
            "/api/webhooks",
            "/api/keys",
            "/sdk/python",
            "/changelog",
        ),
        landing_pages=("/", "/getting-started", "/api/scans", "/sdk/python"),
        lead_forms=(("/getting-started", "docs_signup"), ("/changelog", "newsletter")),
        new_visitors_per_day=10.0,
    ),
)


@dataclass(frozen=True)
class Browser:
    """What a request tells about its sender: read by Funnel, never stored."""

    user_agent: str
    ip: str
    country: str | None
    origin: str


@dataclass(frozen=True)
class BeaconPost:
    """``POST /v1/events`` with ``{"events": [...]}``; ``accepted`` false for a malformed one.

    ``key`` (on every request) groups requests that must arrive in their order: those of
    the same visitors, their leads and their tenants. Requests of different keys may be
    sent side by side.
    """

    at: datetime
    browser: Browser
    body: dict[str, Any]
    key: int
    accepted: bool = True


@dataclass(frozen=True)
class LeadPost:
    """``POST /v1/leads/capture``, as JSON or (``as_form``) a plain HTML form post."""

    at: datetime
    browser: Browser
    capture: dict[str, Any]
    key: int
    as_form: bool = False


@dataclass(frozen=True)
class WebhookPost:
    """``POST /v1/webhooks/description-service`` (signed when it is sent)."""

    at: datetime
    webhook_id: str
    body: dict[str, Any]
    key: int


Delivery = BeaconPost | LeadPost | WebhookPost


@dataclass
class PlanCounts:
    """What the plan holds, for the closing report."""

    visits: int = 0
    page_views: int = 0
    events: int = 0
    leads: int = 0
    tenants: int = 0
    webhooks: int = 0
    rejected_beacons: int = 0


@dataclass(frozen=True)
class DemoPlan:
    first_day: date
    last_day: date
    deliveries: tuple[Delivery, ...]
    counts: PlanCounts


@dataclass(frozen=True)
class _Profile:
    """A browser and a country many visitors share (``key``: its number)."""

    key: int
    user_agent: str
    country: str | None


@dataclass
class _Visitor:
    site: Site
    visitor_id: str | None
    profile: _Profile
    browser: Browser
    first_day: date
    lead_email: str | None = None


@dataclass(frozen=True)
class _Lead:
    email: str
    captured_at: datetime
    converts: bool
    capture: dict[str, Any]
    key: int


@dataclass
class _VisitorDay:
    """One visitor's events of one day, and the lead they left, if any."""

    visitor: _Visitor
    events: list[dict[str, Any]] = field(default_factory=list)
    lead: _Lead | None = None


def build_plan(*, now: datetime, days: int = 90, scale: float = 1.0, seed: int = 2026) -> DemoPlan:
    """The requests of ``days`` UTC days ending with today (up to ``now``), in arrival order.

    Parameters
    ----------
    now
        The moment the plan ends (aware); nothing arrives later.
    days
        How many days, today included.
    scale
        Traffic relative to the default (about 30 new visitors a day across both sites at
        the start, 55 at the end, and returning ones); leads, tenants and usage follow from
        it, except the one lead a day that always comes.
    seed
        The random generator's seed: the same options give the same plan.

    Raises
    ------
    ValueError
        When ``days`` is below 1 or ``scale`` is not positive.
    """
    if days < 1 or scale <= 0:
        raise ValueError("days must be at least 1 and scale positive")
    return _Planner(now=now.astimezone(UTC), days=days, scale=scale, seed=seed).plan()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class _Planner:
    def __init__(self, *, now: datetime, days: int, scale: float, seed: int) -> None:
        self.now = now
        self.days = days
        self.scale = scale
        self.seed = seed
        self.rng = self.random("profiles")
        self.last_day = now.date()
        self.first_day = self.last_day - timedelta(days=days - 1)
        self.deliveries: list[tuple[datetime, int, Delivery]] = []
        self.counts = PlanCounts()
        self.returners: dict[str, list[_Visitor]] = {site.property_id: [] for site in SITES}
        self.leads: list[_Lead] = []
        self.serial = 0
        self.captures = 0
        countries, weights = zip(*COUNTRIES, strict=True)
        pairs = [
            (agent, share, country)
            for agent, share in USER_AGENTS
            for country in self.distinct_choices(countries, weights, PROFILE_COUNTRIES)
        ]
        self.profiles = [
            (_Profile(key, agent, country), share / PROFILE_COUNTRIES)
            for key, (agent, share, country) in enumerate(pairs)
        ]

    def distinct_choices(self, options: Sequence[_T], weights: Sequence[float], count: int) -> list[_T]:
        chosen: list[_T] = []
        while len(chosen) < count:
            option = self.rng.choices(options, weights)[0]
            if option not in chosen:
                chosen.append(option)
        return chosen

    def random(self, *unit: object) -> random.Random:
        """A generator of its own for each day of a site and each tenant, seeded from the
        plan's seed and the unit: what happens today, cut short by "now", leaves every other
        day and tenant as they were. Seeded on purpose, and not a secret."""
        return random.Random("/".join(map(str, (self.seed, *unit))))  # noqa: S311

    def plan(self) -> DemoPlan:
        for index in range(self.days):
            day = self.first_day + timedelta(days=index)
            growth = 1 + GROWTH * index / max(self.days - 1, 1)
            for site in SITES:
                self.rng = self.random("day", index, site.property_id)
                self.site_day(site, day, index, growth)
        for number, lead in enumerate(self.leads, start=1):
            if lead.converts:
                self.rng = self.random("tenant", number)
                self.tenant(lead, f"tenant-{number:05d}")
        ordered = sorted(self.deliveries, key=lambda entry: (entry[0], entry[1]))
        return DemoPlan(
            first_day=self.first_day,
            last_day=self.last_day,
            deliveries=tuple(delivery for _, _, delivery in ordered),
            counts=self.counts,
        )

    # -- helpers -----------------------------------------------------------------------

    def token(self, prefix: str) -> str:
        return f"{prefix}_{self.rng.getrandbits(64):016x}"

    def number_around(self, mean: float) -> int:
        """A whole number spread around ``mean`` as a Poisson count would be."""
        return max(0, round(self.rng.gauss(mean, math.sqrt(mean)))) if mean > 0 else 0

    def add(self, delivery: Delivery) -> None:
        self.serial += 1
        self.deliveries.append((delivery.at, self.serial, delivery))

    def browser(self, site: Site, profile: _Profile) -> Browser:
        ip = f"{self.rng.choice(NETWORKS)}.{self.rng.randint(1, 254)}"
        return Browser(user_agent=profile.user_agent, ip=ip, country=profile.country, origin=site.origin)

    # -- the sites -----------------------------------------------------------------------

    def site_day(self, site: Site, day: date, index: int, growth: float) -> None:
        mean = site.new_visitors_per_day * self.scale * growth
        visits: list[tuple[_Visitor, str | None]] = [
            (self.new_visitor(site, day), None) for _ in range(self.number_around(mean))
        ]
        if site is SITES[0]:
            # The day's certain lead, from each channel in turn
            visits.append((self.new_visitor(site, day, cookieless=False), CHANNELS[index % len(CHANNELS)]))
        recent = [v for v in self.returners[site.property_id] if 1 <= (day - v.first_day).days <= 45]
        returning = min(len(recent), self.number_around(0.35 * mean))
        visits += [(visitor, "returning") for visitor in self.rng.sample(recent, returning)]

        end_of_day = min(datetime.combine(day, time(23, 59, 30), tzinfo=UTC), self.now)
        shared: dict[_Profile, list[dict[str, Any]]] = {}
        for visitor, kind in visits:
            record = self.visitor_day(visitor, day, kind)
            if record is None:
                continue
            self.counts.visits += 1
            later = record.events
            if record.lead is not None:
                # What the visitor did up to the form arrives before the lead
                sent_at = record.lead.captured_at - timedelta(milliseconds=500)
                earlier = [event for event in record.events if _at(event) <= sent_at]
                later = [event for event in record.events if _at(event) > sent_at]
                self.post_events(sent_at, visitor.browser, earlier, visitor.profile.key)
                self.add_lead(visitor, record.lead)
            if visitor.visitor_id is None:
                self.post_events(end_of_day, visitor.browser, later, visitor.profile.key)
            else:
                shared.setdefault(visitor.profile, []).extend(later)
        for profile, events in shared.items():
            self.post_events(end_of_day, self.browser(site, profile), events, profile.key)
        self.noise(site, day, end_of_day)

    def new_visitor(self, site: Site, day: date, *, cookieless: bool | None = None) -> _Visitor:
        if cookieless is None:
            cookieless = self.rng.random() < COOKIELESS_SHARE
        profiles, weights = zip(*self.profiles, strict=True)
        profile = self.rng.choices(profiles, weights)[0]
        visitor = _Visitor(
            site=site,
            visitor_id=None if cookieless else self.token("vis"),
            profile=profile,
            browser=self.browser(site, profile),
            first_day=day,
        )
        if not cookieless:
            self.returners[site.property_id].append(visitor)
        return visitor

    def visitor_day(self, visitor: _Visitor, day: date, kind: str | None) -> _VisitorDay | None:
        """A visit of one or two sessions. ``kind``: None for a new visitor, "returning", or
        the channel of the day's certain lead. None when it would not be over by now."""
        record = _VisitorDay(visitor)
        # Mostly North American and European working hours; over by the end of the day.
        start = datetime.combine(day, time(), tzinfo=UTC) + timedelta(hours=self.rng.triangular(6, 20.5, 15))
        sessions = 2 if kind not in CHANNELS and self.rng.random() < 0.15 else 1
        for number in range(sessions):
            if start.time() > time(22):
                break  # no second session that would run past midnight
            if kind in CHANNELS:
                channel = kind
            elif kind == "returning" or number > 0:
                channel = "direct" if self.rng.random() < 0.5 else self.channel()
            else:
                channel = self.channel()
            chance = (
                1.0
                if kind in CHANNELS
                else RETURNING_LEAD_CHANCE
                if kind == "returning"
                else LEAD_CHANCE[channel]
            )
            wants_lead = visitor.lead_email is None and number == sessions - 1 and self.rng.random() < chance
            end = self.session(record, start, channel, wants_lead=wants_lead, certain=kind in CHANNELS)
            start = end + timedelta(hours=self.rng.uniform(1, 3))
        if max(_at(event) for event in record.events) > self.now - _MARGIN:
            return None
        return record

    def channel(self) -> str:
        return self.rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]

    def session(
        self, record: _VisitorDay, start: datetime, channel: str, *, wants_lead: bool, certain: bool
    ) -> datetime:
        """One session's page views and what happens on them; returns when it ends."""
        site = record.visitor.site
        rng = self.rng
        pages = [rng.choice(site.landing_pages)]
        pages += [rng.choice(site.pages) for _ in range(min(int(rng.expovariate(0.6)), 6))]
        lead_page, lead_form = site.lead_forms[0] if certain else rng.choice(site.lead_forms)
        if wants_lead:
            pages.append(lead_page)
        query, referrer = self.arrival(channel)
        moment = start
        for position, page in enumerate(pages):
            view_id = self.token("evt")
            extra = {"referrer": referrer} if referrer else {}
            self.event(
                record,
                "page_view",
                moment,
                page + (query if position == 0 else ""),
                eventId=view_id,
                title=f"{site.title} {page}",
                **extra,
            )
            referrer = f"{site.origin}{page}"
            dwell = timedelta(seconds=rng.randint(50, 240))
            if rng.random() < 0.7:
                self.event(
                    record,
                    "web_vitals",
                    moment + timedelta(seconds=2),
                    page,
                    pageViewId=view_id,
                    vitals=self.vitals(),
                )
            if page == "/pricing" and rng.random() < 0.3:
                self.event(
                    record,
                    "custom",
                    moment + timedelta(seconds=9),
                    page,
                    name="pricing_toggle",
                    properties={"plan": rng.choice(("starter", "pro", "enterprise"))},
                )
            if page.startswith(("/api", "/sdk")) and rng.random() < 0.25:
                self.event(
                    record,
                    "custom",
                    moment + timedelta(seconds=14),
                    page,
                    name="copy_code",
                    properties={"language": rng.choice(("python", "curl", "javascript"))},
                )
            if wants_lead and position == len(pages) - 1:
                self.form(record, moment, page, lead_form, submitted=True)
                self.capture(record, moment + timedelta(seconds=46), page, lead_form, certain=certain)
            elif page in dict(site.lead_forms) and rng.random() < 0.35:
                self.form(record, moment, page, dict(site.lead_forms)[page], submitted=rng.random() < 0.3)
            if rng.random() < 0.8:
                engaged = int(dwell.total_seconds() * 1000 * rng.uniform(0.4, 1))
                self.event(
                    record,
                    "engagement",
                    moment + dwell,
                    page,
                    pageViewId=view_id,
                    engagement={
                        "engagedTimeMs": engaged,
                        "scrollDepthPercent": rng.choice((25, 50, 75, 90, 100)),
                    },
                )
            moment += dwell + timedelta(seconds=1)
        return moment

    def arrival(self, channel: str) -> tuple[str, str | None]:
        """The landing page's query string and the referrer, by channel."""
        rng = self.rng
        if channel == "organic_search":
            return "", rng.choice(
                ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/")
            )
        if channel == "paid_search":
            campaign = rng.choice(("alt-text-api", "brand", "competitor"))
            query = f"?utm_source=google&utm_medium=cpc&utm_campaign={campaign}&gclid={self.token('g')}"
            return query, "https://www.google.com/"
        if channel == "social":
            if rng.random() < 0.5:
                return (
                    "?utm_source=linkedin&utm_medium=social&utm_campaign=launch-week",
                    "https://www.linkedin.com/",
                )
            return "", rng.choice(("https://t.co/", "https://www.reddit.com/", "https://www.facebook.com/"))
        if channel == "email":
            campaign = rng.choice(("monthly-update", "webinar-invite", "onboarding"))
            return f"?utm_source=newsletter&utm_medium=email&utm_campaign={campaign}", None
        if channel == "referral":
            return "", rng.choice(
                ("https://www.producthunt.com/", "https://github.com/", "https://blog.partner.example/")
            )
        return "", None

    def vitals(self) -> dict[str, Any]:
        rng = self.rng
        ttfb = int(rng.lognormvariate(5.2, 0.5))
        vitals: dict[str, Any] = {
            "ttfb": ttfb,
            "fcp": ttfb + int(rng.lognormvariate(6.6, 0.4)),
            "lcp": ttfb + int(rng.lognormvariate(7.2, 0.4)),
            "cls": round(rng.expovariate(12), 3),
        }
        if rng.random() < 0.6:  # only once the visitor interacts
            vitals["inp"] = int(rng.lognormvariate(4.8, 0.6))
        return {name: min(value, 600_000) for name, value in vitals.items()}

    def form(
        self, record: _VisitorDay, moment: datetime, page: str, form_id: str, *, submitted: bool
    ) -> None:
        self.event(record, "form_start", moment + timedelta(seconds=12), page, formId=form_id)
        if submitted:
            self.event(record, "form_submit", moment + timedelta(seconds=45), page, formId=form_id)

    def event(self, record: _VisitorDay, kind: str, moment: datetime, path: str, **fields: Any) -> None:
        visitor = record.visitor
        event: dict[str, Any] = {
            "type": kind,
            "eventId": fields.pop("eventId", None) or self.token("evt"),
            "propertyId": visitor.site.property_id,
            "occurredAt": _iso(moment),
            "path": path,
            **fields,
        }
        if visitor.visitor_id is not None:
            event["visitorId"] = visitor.visitor_id
        record.events.append(event)

    def capture(
        self, record: _VisitorDay, moment: datetime, page: str, form_id: str, *, certain: bool
    ) -> None:
        rng = self.rng
        visitor = record.visitor
        company = rng.choice(COMPANIES)
        self.captures += 1
        email = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{self.captures}@{company}.example"
        consent = rng.random() < CONSENT_SHARE
        capture: dict[str, Any] = {
            # as people type it: the server normalises it
            "email": email if rng.random() < 0.7 else email.title(),
            "propertyId": visitor.site.property_id,
            "formId": form_id,
            "path": page,
            "consent": consent,
            "fields": {"company": company.title(), "role": rng.choice(("Founder", "Engineer", "Marketing"))},
        }
        if visitor.visitor_id is not None:
            capture["visitorId"] = visitor.visitor_id
        if consent:
            capture["consentWordingVersion"] = f"{form_id}-2026-09"
        converts = certain or rng.random() < (0.1 if form_id == "newsletter" else 0.3)
        record.lead = _Lead(
            email=email, captured_at=moment, converts=converts, capture=capture, key=visitor.profile.key
        )

    def add_lead(self, visitor: _Visitor, lead: _Lead) -> None:
        visitor.lead_email = lead.email
        self.leads.append(lead)
        self.counts.leads += 1
        as_form = self.rng.random() < FORM_POST_SHARE
        self.add(
            LeadPost(
                at=lead.captured_at,
                browser=visitor.browser,
                capture=lead.capture,
                key=lead.key,
                as_form=as_form,
            )
        )

    def post_events(self, moment: datetime, browser: Browser, events: list[dict[str, Any]], key: int) -> None:
        """The events as requests of at most 100 received at ``moment``; a few are retried."""
        for start in range(0, len(events), 100):
            body = {"events": events[start : start + 100]}
            self.add(BeaconPost(at=moment, browser=browser, body=body, key=key))
            self.counts.events += len(body["events"])
            self.counts.page_views += sum(event["type"] == "page_view" for event in body["events"])
            retry_at = moment + timedelta(seconds=20)
            if self.rng.random() < 0.02 and retry_at <= self.now:
                # The browser heard nothing back and sent it again: stored once, counted as duplicates
                self.add(BeaconPost(at=retry_at, browser=browser, body=body, key=key))

    def noise(self, site: Site, day: date, end_of_day: datetime) -> None:
        """Malformed beacons (no path: refused, counted as rejected) and a crawler (a bot)."""
        for _ in range(self.rng.randint(1, 3)):
            moment = datetime.combine(day, time(12), tzinfo=UTC) + timedelta(minutes=self.rng.randint(0, 480))
            if moment > self.now:
                continue
            body = {
                "events": [
                    {"type": "page_view", "eventId": self.token("evt"), "propertyId": site.property_id}
                ]
            }
            profile = self.rng.choice(self.profiles)[0]
            self.add(
                BeaconPost(
                    at=moment, browser=self.browser(site, profile), body=body, key=profile.key, accepted=False
                )
            )
            self.counts.rejected_beacons += 1
        crawler = Browser(user_agent=CRAWLER, ip="192.0.2.250", country="US", origin=site.origin)
        page = {
            "type": "page_view",
            "eventId": self.token("evt"),
            "propertyId": site.property_id,
            "path": "/",
        }
        self.add(BeaconPost(at=end_of_day, browser=crawler, body={"events": [page]}, key=0))

    # -- the description service ---------------------------------------------------------

    def webhook(
        self, lead: _Lead, event_type: str, tenant_id: str, moment: datetime, payload: dict[str, Any]
    ) -> None:
        # Drawn first: a webhook cut off by "now" leaves the tenant's later ones as they were
        arrives = moment + timedelta(seconds=self.rng.randint(1, 20))
        webhook_id = self.token("msg")
        if arrives > self.now:
            return
        body = {
            "eventType": event_type,
            "tenantId": tenant_id,
            "occurredAt": _iso(moment),
            "payload": payload,
        }
        self.add(WebhookPost(at=arrives, webhook_id=webhook_id, body=body, key=lead.key))
        self.counts.webhooks += 1

    def tenant(self, lead: _Lead, tenant: str) -> None:
        rng = self.rng
        created = lead.captured_at + timedelta(minutes=10, days=min(rng.expovariate(1 / 1.5), 8))
        if created > self.now - _MARGIN:
            return
        self.counts.tenants += 1
        site_url = f"https://{lead.email.split('@')[1]}/"
        self.webhook(lead, "tenant.created", tenant, created, {"email": lead.email, "siteUrl": site_url})
        key_at = created + timedelta(minutes=rng.uniform(3, 36 * 60))
        self.webhook(
            lead,
            "apikey.created",
            tenant,
            key_at,
            {"keyPrefix": self.token("ak")[:14], "rateLimitTier": "standard"},
        )
        moment = key_at + timedelta(minutes=rng.uniform(20, 48 * 60))
        job = 0
        while moment <= self.now:
            job += 1
            self.scan(lead, tenant, f"{tenant}-job-{job}", moment)
            if rng.random() < 0.06:
                return  # the tenant stops using the service
            moment += timedelta(days=rng.uniform(0.5, 5))

    def scan(self, lead: _Lead, tenant: str, job_id: str, moment: datetime) -> None:
        rng = self.rng
        media = rng.randint(1, 30)
        if rng.random() < 0.08:
            error = rng.choice(("timeout", "media unreachable"))
            self.webhook(
                lead,
                "scan.failed",
                tenant,
                moment,
                {"jobId": job_id, "mediaCount": media, "errorMessage": error},
            )
            return
        identities = rng.randint(1, max(1, media // 3))
        payload: dict[str, Any] = {
            "jobId": job_id,
            "mediaCount": media,
            "identitiesDetected": identities,
            "durationMs": 400 + media * rng.randint(150, 600),
        }
        generated = rng.randint(1, 4) if rng.random() < 0.6 else 0
        if generated:
            payload["suggestionsGenerated"] = generated
        self.webhook(lead, "scan.completed", tenant, moment, payload)
        for number in range(min(generated, 2)):
            if rng.random() < 0.7:
                resolution = "accepted" if rng.random() < 0.7 else "rejected"
                resolved = {"suggestionId": f"{job_id}-s{number}", "resolution": resolution}
                self.webhook(
                    lead,
                    "suggestion.resolved",
                    tenant,
                    moment + timedelta(hours=rng.uniform(1, 72)),
                    resolved,
                )
        if identities >= 2 and rng.random() < 0.35:
            cluster = {"clusterId": f"{job_id}-c", "identityCount": rng.randint(2, identities + 1)}
            self.webhook(lead, "cluster.created", tenant, moment + timedelta(minutes=5), cluster)


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurredAt"])
