"""The demo's plan (funnel_local.demo_plan): seeded and independent of the hour it is made,
nothing from the future, every channel, device and country as Funnel classifies them, a
lead every day that arrives after what its visitor did, tenants after their leads."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from funnel.capture import classify
from funnel.capture.schemas import EventsBody, LeadCapture
from funnel.webhooks.schemas import WebhookDelivery
from funnel_local.demo_plan import CHANNELS, SITES, BeaconPost, DemoPlan, LeadPost, WebhookPost, build_plan

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan() -> DemoPlan:
    return build_plan(now=NOW, days=90, scale=0.3)


def beacons(plan: DemoPlan) -> list[BeaconPost]:
    """The beacon requests the server accepts (all but the planned malformed ones)."""
    return [
        delivery for delivery in plan.deliveries if isinstance(delivery, BeaconPost) and delivery.accepted
    ]


def test_the_same_options_give_the_same_plan_and_another_seed_another(plan):
    # Given the plan; When it is made again, Then it is the same; with another seed, not
    assert build_plan(now=NOW, days=90, scale=0.3) == plan
    assert build_plan(now=NOW, days=90, scale=0.3, seed=7).deliveries != plan.deliveries


def test_the_hour_it_is_made_changes_today_only(plan):
    # Given the plan made at 15:30, and again at 06:10 the same day
    early = build_plan(now=NOW.replace(hour=6, minute=10), days=90, scale=0.3)

    # Then every request of the days before today is the same, in the same order
    def before_today(candidate: DemoPlan) -> list[object]:
        return [
            delivery
            for delivery in candidate.deliveries
            if delivery.at.date() < NOW.date() and not isinstance(delivery, WebhookPost)
        ]

    assert before_today(early) == before_today(plan)
    # And so is every webhook of the days before today (a tenant's life does not depend on today)
    webhooks = [d for d in plan.deliveries if isinstance(d, WebhookPost) and d.at.date() < NOW.date()]
    early_webhooks = [d for d in early.deliveries if isinstance(d, WebhookPost) and d.at.date() < NOW.date()]
    assert early_webhooks == webhooks


def test_requests_come_in_time_order_within_the_days_and_never_from_the_future(plan):
    # Given the plan's requests, Then they arrive in time order, within its days, by now
    moments = [delivery.at for delivery in plan.deliveries]
    assert moments == sorted(moments)
    assert plan.first_day == NOW.date() - timedelta(days=89) and plan.last_day == NOW.date()
    assert plan.first_day <= moments[0].date() and moments[-1] <= NOW
    for beacon in beacons(plan):
        for event in beacon.body["events"]:
            # What the server believes: not ahead of the request, and at most a day behind it
            # (the crawler sends no time: the server takes the request's)
            occurred = datetime.fromisoformat(event.get("occurredAt", beacon.at.isoformat()))
            assert beacon.at - timedelta(hours=24) <= occurred <= beacon.at


def test_every_request_is_valid_but_the_planned_refusals(plan):
    # Given every request, read by the models the handlers validate with
    # Then each is valid, but the malformed beacons, which are refused for their missing path
    refused = 0
    for delivery in plan.deliveries:
        if isinstance(delivery, BeaconPost):
            if delivery.accepted:
                EventsBody.model_validate(delivery.body)
            else:
                refused += 1
                with pytest.raises(ValueError, match="path"):
                    EventsBody.model_validate(delivery.body)
        elif isinstance(delivery, LeadPost):
            LeadCapture.model_validate(delivery.capture)
        else:
            WebhookDelivery.model_validate(delivery.body)
    # A few a day, on each site
    assert refused >= 90 * len(SITES)


def test_traffic_comes_from_every_channel_device_and_many_countries(plan):
    # Given each session's landing page view (no referrer, or another site's), classified as
    # Funnel classifies it
    channels, devices, countries = set(), set(), set()
    for beacon in beacons(plan):
        devices.add(classify.device_type(beacon.browser.user_agent))
        countries.add(beacon.browser.country)
        site_host = urlsplit(beacon.browser.origin).hostname
        for event in beacon.body["events"]:
            referrer = event.get("referrer")
            if event["type"] != "page_view" or (referrer and urlsplit(referrer).hostname == site_host):
                continue
            _, params = classify.split_path(event["path"])
            attribution = classify.attribute(
                path_params=params,
                explicit_utm={},
                explicit_click_ids=(),
                referrer=referrer,
                site_hosts=frozenset({site_host}),
            )
            channels.add(attribution.traffic_source)
    # Then every channel is there, with phones, tablets, desktops (and a crawler), from many countries
    assert channels == set(CHANNELS)
    assert {"desktop", "mobile", "tablet", "bot"} <= devices
    assert len(countries - {None}) >= 8 and None in countries


def test_a_lead_every_day_each_after_what_its_visitor_did(plan):
    # Given every lead capture, and the page views sent before it: of the visitor with the
    # site's id, or of the same browser (address and user agent) the same day when cookieless
    seen_before: set[object] = set()
    leads_by_day: dict[object, int] = defaultdict(int)
    cookieless = 0
    for delivery in plan.deliveries:
        if isinstance(delivery, BeaconPost):
            for event in delivery.body["events"]:
                if event["type"] == "page_view":
                    seen_before.add(event.get("visitorId") or (delivery.browser, delivery.at.date()))
        elif isinstance(delivery, LeadPost):
            leads_by_day[delivery.at.date()] += 1
            visitor = delivery.capture.get("visitorId")
            cookieless += visitor is None
            # Then the visitor's page views arrived before the lead, so it is linked to them
            assert (visitor or (delivery.browser, delivery.at.date())) in seen_before
    assert cookieless > 0
    # And every day has a lead (today too, once its certain visit is over)
    days = {plan.first_day + timedelta(days=n) for n in range(90)}
    assert days - set(leads_by_day) <= {NOW.date()}
    # And some come as plain HTML form posts, most with consent
    leads = [d for d in plan.deliveries if isinstance(d, LeadPost)]
    assert any(lead.as_form for lead in leads)
    assert 0.6 < sum(lead.capture["consent"] for lead in leads) / len(leads) < 1


def test_tenants_come_after_their_lead_and_their_webhooks_share_its_key(plan):
    # Given the leads, and the webhooks in arrival order
    # Then each tenant signs up with a lead's address after its capture, every kind of
    # webhook comes, and a tenant's webhooks share its lead's key (they are sent in order)
    leads = {lead.capture["email"].lower(): lead for lead in plan.deliveries if isinstance(lead, LeadPost)}
    tenants: dict[str, LeadPost] = {}
    kinds = defaultdict(int)
    for delivery in plan.deliveries:
        if not isinstance(delivery, WebhookPost):
            continue
        kinds[delivery.body["eventType"]] += 1
        tenant = delivery.body["tenantId"]
        if delivery.body["eventType"] == "tenant.created":
            lead = leads[delivery.body["payload"]["email"]]
            assert lead.at < delivery.at
            tenants[tenant] = lead
        # Every webhook of a tenant comes after its creation, on its lead's key (one lane)
        assert tenant in tenants
        assert delivery.key == tenants[tenant].key
    assert set(kinds) == {
        "tenant.created",
        "apikey.created",
        "scan.completed",
        "scan.failed",
        "cluster.created",
        "suggestion.resolved",
    }
    assert kinds["scan.failed"] < kinds["scan.completed"]


def test_a_visitors_requests_share_one_key(plan):
    # Given the beacons of each visitor with an id, Then they are all on one key
    keys: dict[str, set[int]] = defaultdict(set)
    for beacon in beacons(plan):
        for event in beacon.body["events"]:
            if "visitorId" in event:
                keys[event["visitorId"]].add(beacon.key)
    assert all(len(found) == 1 for found in keys.values())


@pytest.mark.parametrize(("days", "scale"), [(0, 1.0), (90, 0.0), (90, -1.0)])
def test_nonsense_options_are_refused(days, scale):
    # Given no day, or no traffic; Then no plan is made
    with pytest.raises(ValueError, match="days must be at least 1"):
        build_plan(now=NOW, days=days, scale=scale)
