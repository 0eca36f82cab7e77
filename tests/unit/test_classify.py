"""Page-view classification: referrer hosts, paths and their attribution parameters,
traffic source buckets, bots, devices and countries (pure logic, no I/O)."""

from __future__ import annotations

from typing import get_args

import pytest

from funnel.capture.classify import (
    CLICK_IDS,
    MAX_USER_AGENT_LENGTH,
    Attribution,
    TrafficSource,
    _classify_user_agent,
    attribute,
    click_id_type,
    country,
    device_type,
    is_bot,
    referrer_host,
    split_path,
    traffic_source,
)

SITE = ("example.com",)

# Real user agents, as the browsers and bots of 2024-2026 send them.
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
EDGE_WINDOWS = CHROME_WINDOWS + " Edg/131.0.0.0"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
CHROME_OS = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
IPHONE_FACEBOOK_APP = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/474.0.0.43.109;FBBV/623131330;FBDV/iPhone15,2;FBMD/iPhone;"
    "FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/625296946]"
)
ANDROID_CHROME_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
SAMSUNG_INTERNET_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
)
FIREFOX_ANDROID_PHONE = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
IPAD_SAFARI = (
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0"
SAMSUNG_TV = (
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "76.0.3809.146/6.0 TV Safari/537.36"
)
PLAYSTATION = (
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.0 Safari/605.1.15"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
)
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36"
)
FACEBOOK_PREVIEW = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
)


def source(
    *,
    referrer: str | None = None,
    utm_source: str | None = None,
    utm_medium: str | None = None,
    click_id: str | None = None,
    site_hosts: tuple[str, ...] = SITE,
) -> str:
    return traffic_source(
        referrer_host=referrer_host(referrer),
        site_hosts=site_hosts,
        utm_source=utm_source,
        utm_medium=utm_medium,
        click_id_type=click_id,
    )


# referrer_host


@pytest.mark.parametrize(
    ("referrer", "host"),
    [
        ("https://www.google.com/", "www.google.com"),
        ("https://news.ycombinator.com/item?id=41234567", "news.ycombinator.com"),
        ("http://blog.example.org/posts/2024/launch?ref=alice@example.org#c3", "blog.example.org"),
        ("HTTPS://WWW.Bing.COM/search?q=funnel", "www.bing.com"),
        ("https://example.com.:8443/a", "example.com"),
        ("https://alice:secret@partner.example.net/welcome", "partner.example.net"),
        ("  https://t.co/AbC123  ", "t.co"),
        ("http://localhost:3000/pricing", "localhost"),
        ("http://192.0.2.10/landing", "192.0.2.10"),
    ],
)
def test_referrers_keep_only_the_lower_cased_host(referrer, host):
    assert referrer_host(referrer) == host


@pytest.mark.parametrize(
    "referrer",
    [
        None,
        "",
        "   ",
        "javascript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "android-app://com.google.android.gm/",
        "ftp://files.example.com/",
        "/pricing",
        "pricing?x=1",
        "//cdn.example.com/asset.js",
        "www.example.com",
        "https://",
        "https:///path-only",
        "http://exa mple.com/",
        "http://-leading-hyphen.example/",
        "http://bücher.example/",
        "http://%65xample.com/",
        "http://[::1]/",
        "http://[not-closed/",
        "https://" + "a" * 64 + ".example.com/",
        "not a url at all",
    ],
)
def test_referrers_that_are_not_http_urls_with_a_valid_host_give_none(referrer):
    assert referrer_host(referrer) is None


# split_path


@pytest.mark.parametrize(
    ("raw", "path", "params"),
    [
        ("/pricing", "/pricing", {}),
        ("/", "/", {}),
        ("", "/", {}),
        ("/pricing#plans", "/pricing", {}),
        ("#top", "/", {}),
        ("/pricing?", "/pricing", {}),
        (
            "/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=Spring+Launch%21#top",
            "/pricing",
            {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "Spring Launch!"},
        ),
        ("/p?UTM_Source=Google&GCLID=abc", "/p", {"utm_source": "Google", "gclid": "abc"}),
        ("/p?utm_source=first&utm_source=second", "/p", {"utm_source": "first"}),
        ("/p?utm_source=&utm_source=%20&utm_source=real", "/p", {"utm_source": "real"}),
        ("/p?q=shoes&page=2&ref=partner&fbclid=IwAR0x", "/p", {"fbclid": "IwAR0x"}),
        ("/docs/a%20b/caf%C3%A9?x=1", "/docs/a%20b/caf%C3%A9", {}),
        ("/a%2Fb", "/a%2Fb", {}),
        ("pricing?utm_term=crm", "/pricing", {"utm_term": "crm"}),
        ("/#/app?utm_source=hash", "/", {}),
        ("https://www.example.com/pricing?utm_content=hero#x", "/pricing", {"utm_content": "hero"}),
        ("HTTP://EXAMPLE.COM?utm_medium=cpc", "/", {"utm_medium": "cpc"}),
        ("/p?utm_campaign=spring%00sale\x07", "/p", {"utm_campaign": "springsale"}),
        ("/pri\x00cing", "/pricing", {}),
    ],
)
def test_paths_lose_query_and_fragment_and_keep_only_attribution_parameters(raw, path, params):
    assert split_path(raw) == (path, params)


def test_addresses_in_the_path_and_the_campaign_are_replaced():
    # Given a page whose path and campaign carry the visitor's address
    raw = "/welcome/ada%40example.org?utm_campaign=drip+for+ada@example.org&utm_source=mail"
    # When it is split, then neither keeps it
    assert split_path(raw) == ("/welcome/[email]", {"utm_campaign": "[email]", "utm_source": "mail"})


def test_an_address_with_a_plus_in_a_campaign_link_is_replaced_whole():
    # Given a mailing tool's link with the recipient's sub-address, "+" unencoded
    _, params = split_path("/?utm_source=crm&utm_content=ada.lovelace+spring@example.org")
    # Then decoding the "+" to a space does not leave the local part behind
    assert params == {"utm_source": "crm", "utm_content": "[email]"}


def test_a_very_long_path_is_cut_to_the_column_size():
    # Given a path far longer than the column
    raw = "/" + "a" * 5000 + "?utm_source=x"
    # When it is split
    path, params = split_path(raw)
    # Then the path is cut to the column's 2048 characters, and the query is still read
    assert path == "/" + "a" * 2047
    assert params == {"utm_source": "x"}


def test_a_path_of_the_column_size_is_kept_whole():
    path, _ = split_path("/" + "a" * 2047 + "?utm_source=x")
    assert path == "/" + "a" * 2047


def test_a_very_long_utm_value_is_cut_to_the_column_size():
    _, params = split_path("/?utm_campaign=" + "c" * 400)
    assert params["utm_campaign"] == "c" * 255


# click ids


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"gclid": "x"}, "gclid"),
        ({"wbraid": "x"}, "wbraid"),
        ({"msclkid": "x"}, "msclkid"),
        ({"fbclid": "x"}, "fbclid"),
        ({"li_fat_id": "x"}, "li_fat_id"),
        ({"fbclid": "x", "gclid": "y"}, "gclid"),
        ({"utm_source": "x"}, None),
        ({}, None),
        ({"ttclid", "twclid"}, "ttclid"),
    ],
)
def test_the_highest_priority_click_id_present_is_reported(params, kind):
    assert click_id_type(params) == kind


@pytest.mark.parametrize("name", ["gclid", "gbraid", "wbraid", "dclid", "msclkid", "yclid"])
def test_search_ad_click_ids_mean_paid_search(name):
    assert CLICK_IDS[name] == (name, "paid_search")


@pytest.mark.parametrize("name", ["fbclid", "ttclid", "li_fat_id", "twclid"])
def test_social_click_ids_mean_social_not_paid(name):
    # fbclid is on every outbound Facebook link, organic or paid
    assert CLICK_IDS[name] == (name, "social")


# traffic_source: one table per bucket


@pytest.mark.parametrize(
    "signals",
    [
        {"utm_source": "google", "utm_medium": "cpc"},
        {"utm_source": "bing", "utm_medium": "PPC"},
        {"utm_source": "google", "utm_medium": "Paid Search"},
        {"utm_source": "google", "utm_medium": "paid_search"},
        {"utm_source": "adwords", "utm_medium": "sem"},
        {"utm_source": "google", "utm_medium": "paid"},
        {"utm_source": "www.bing.com", "utm_medium": "paid"},
        {"click_id": "gclid"},
        {"click_id": "msclkid", "referrer": "https://www.bing.com/"},
        {"click_id": "yclid", "referrer": "https://yandex.ru/"},
        {"click_id": "gclid", "referrer": "https://www.example.com/"},
        {"click_id": "gclid", "utm_source": "facebook", "utm_medium": "cpc"},
    ],
)
def test_paid_search_mediums_and_search_ad_click_ids_are_paid_search(signals):
    assert source(**signals) == "paid_search"


@pytest.mark.parametrize(
    "signals",
    [
        {"utm_source": "mailchimp", "utm_medium": "email"},
        {"utm_source": "hubspot", "utm_medium": "E-Mail"},
        {"utm_source": "weekly", "utm_medium": "newsletter"},
        {"utm_source": "newsletter"},
        {"utm_source": "Email", "utm_medium": "banner"},
        {"utm_medium": "email", "referrer": "https://mail.google.com/"},
        {"utm_medium": "email", "click_id": "fbclid"},
    ],
)
def test_email_tags_are_email(signals):
    assert source(**signals) == "email"


@pytest.mark.parametrize(
    "signals",
    [
        {"referrer": "https://www.facebook.com/"},
        {"referrer": "https://m.facebook.com/story.php?id=1"},
        {"referrer": "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com"},
        {"referrer": "https://lm.facebook.com/"},
        {"referrer": "https://l.instagram.com/"},
        {"referrer": "https://t.co/AbC123"},
        {"referrer": "https://x.com/"},
        {"referrer": "https://www.linkedin.com/feed/"},
        {"referrer": "https://lnkd.in/eXyZ"},
        {"referrer": "https://old.reddit.com/r/saas/"},
        {"referrer": "https://www.youtube.com/"},
        {"referrer": "https://m.youtube.com/watch?v=abc"},
        {"referrer": "https://www.pinterest.com/"},
        {"referrer": "https://www.tiktok.com/"},
        {"referrer": "https://news.ycombinator.com/"},
        {"referrer": "https://mastodon.social/@alice"},
        {"referrer": "https://bsky.app/profile/alice"},
        {"referrer": "https://www.threads.net/"},
        {"utm_source": "linkedin", "utm_medium": "social"},
        {"utm_source": "partner", "utm_medium": "Social Media"},
        {"utm_source": "meta", "utm_medium": "paid-social"},
        {"utm_source": "facebook", "utm_medium": "paidsocial"},
        {"utm_source": "facebook", "utm_medium": "cpc"},
        {"utm_source": "LinkedIn", "utm_medium": "ppc"},
        {"utm_source": "l.facebook.com", "utm_medium": "referral"},
        {"utm_source": "instagram", "utm_medium": "organic"},
        {"click_id": "fbclid"},
        {"click_id": "ttclid"},
        {"click_id": "li_fat_id"},
        {"click_id": "twclid"},
        {"click_id": "fbclid", "referrer": "https://www.google.com/"},
    ],
)
def test_social_networks_tags_and_click_ids_are_social(signals):
    assert source(**signals) == "social"


@pytest.mark.parametrize(
    "referrer",
    [
        "https://www.google.com/",
        "https://google.com/",
        "https://www.google.co.uk/",
        "https://www.google.de/",
        "https://www.google.com.au/",
        "https://m.google.com/",
        "https://www.bing.com/search?q=x",
        "https://cn.bing.com/",
        "https://duckduckgo.com/",
        "https://html.duckduckgo.com/",
        "https://search.yahoo.com/",
        "https://uk.search.yahoo.com/",
        "https://yandex.ru/",
        "https://yandex.com.tr/",
        "https://www.baidu.com/",
        "https://www.ecosia.org/",
        "https://search.brave.com/",
        "https://www.startpage.com/",
        "https://kagi.com/",
        "https://www.qwant.com/",
    ],
)
def test_search_engine_referrers_are_organic_search(referrer):
    assert source(referrer=referrer) == "organic_search"


def test_the_organic_medium_without_a_known_referrer_is_organic_search():
    assert source(utm_source="google", utm_medium="organic") == "organic_search"


@pytest.mark.parametrize(
    "signals",
    [
        {"referrer": "https://partner.example.net/blog/post"},
        {"referrer": "https://github.com/acme/funnel"},
        {"referrer": "https://mail.google.com/"},
        {"referrer": "https://docs.google.com/document/d/1"},
        {"referrer": "https://news.yahoo.com/"},
        {"utm_source": "partner", "utm_medium": "affiliate", "referrer": "https://partner.example.net/"},
        {"utm_source": "partner", "utm_medium": "affiliate"},
        {"utm_source": "podcast"},
        {"utm_medium": "display"},
        {"utm_source": "google", "utm_medium": "display"},
        {"utm_source": "partner", "utm_medium": "paid"},
        {"utm_source": "homepage-banner", "referrer": "https://www.example.com/"},
    ],
)
def test_other_sites_and_unknown_campaign_tags_are_referral(signals):
    assert source(**signals) == "referral"


@pytest.mark.parametrize(
    ("referrer", "site_hosts"),
    [
        (None, SITE),
        ("", SITE),
        ("javascript:void(0)", SITE),
        ("https://example.com/pricing", SITE),
        ("https://www.example.com/", SITE),
        ("https://blog.example.com/post", SITE),
        ("https://example.com:8443/", SITE),
        ("https://WWW.EXAMPLE.COM/", SITE),
        ("https://example.com./", SITE),
        ("https://example.com/", ("www.example.com",)),
        ("https://docs.example.com/", ("WWW.Example.com.",)),
        ("http://localhost:3000/", ("localhost",)),
        ("https://shop.example.org/", ("example.com", "example.org")),
    ],
)
def test_no_referrer_or_a_self_referral_is_direct(referrer, site_hosts):
    assert source(referrer=referrer, site_hosts=site_hosts) == "direct"


@pytest.mark.parametrize(
    "referrer",
    [
        "https://google.com.evil.net/",
        "https://www.google.com.evil.net/search?q=x",
        "https://evilgoogle.com/",
        "https://google.evil.com/",
        "https://notbing.com/",
        "https://bing.com.evil.net/",
        "https://yahoo.com/",
        "https://notfacebook.com/",
        "https://facebook.com.evil.net/",
        "https://myfacebook.com/",
        "https://facebook.co/",
        "https://t.co.evil.net/",
        "https://at.co/",
        "https://notx.com/",
        "https://reddit.com.evil.net/",
        "https://notexample.com/",
        "https://example.com.evil.net/",
        "https://evilexample.com/",
    ],
)
def test_lookalike_hosts_are_plain_referrals(referrer):
    assert source(referrer=referrer) == "referral"


def test_every_bucket_is_reachable():
    # Given one visit per rule
    seen = {
        source(click_id="gclid"),
        source(utm_medium="email"),
        source(referrer="https://t.co/x"),
        source(referrer="https://www.google.com/"),
        source(referrer="https://partner.example.net/"),
        source(),
    }
    # Then every bucket the rollups know of occurs, and nothing else
    assert seen == set(get_args(TrafficSource.__value__))


# attribute


def test_explicit_utm_values_win_over_the_paths():
    # Given UTM values in both the event body and the page's query
    attribution = attribute(
        path_params={"utm_source": "query-source", "utm_medium": "cpc", "utm_term": "crm"},
        explicit_utm={"utm_source": "  Newsletter ", "utm_medium": "Email", "utm_term": None},
        explicit_click_ids=(),
        referrer=None,
        site_hosts=SITE,
    )
    # Then the body's win where present, trimmed but in their own case
    assert attribution == Attribution(
        traffic_source="email",
        referrer_host=None,
        utm_source="Newsletter",
        utm_medium="Email",
        utm_campaign=None,
        utm_term="crm",
        utm_content=None,
        click_id_type=None,
    )


def test_blank_explicit_utm_values_fall_back_to_the_paths():
    attribution = attribute(
        path_params={"utm_campaign": "Spring Launch"},
        explicit_utm={"utm_campaign": "   "},
        explicit_click_ids=(),
        referrer=None,
        site_hosts=SITE,
    )
    assert attribution.utm_campaign == "Spring Launch"
    assert attribution.traffic_source == "direct"


def test_campaign_names_keep_their_case_but_are_capped():
    attribution = attribute(
        path_params={},
        explicit_utm={"utm_campaign": " Q3-Launch_EMEA " + "x" * 300},
        explicit_click_ids=(),
        referrer=None,
        site_hosts=SITE,
    )
    assert attribution.utm_campaign is not None
    assert attribution.utm_campaign.startswith("Q3-Launch_EMEA ")
    assert len(attribution.utm_campaign) == 255


def test_explicit_click_ids_win_over_the_paths():
    # Given a Facebook click id in the query and a Google one reported by the site
    attribution = attribute(
        path_params={"fbclid": "IwAR0"},
        explicit_utm={},
        explicit_click_ids=["GCLID"],
        referrer="https://www.google.com/",
        site_hosts=SITE,
    )
    # Then the site's wins, and makes the visit paid search
    assert attribution.click_id_type == "gclid"
    assert attribution.traffic_source == "paid_search"
    assert attribution.referrer_host == "www.google.com"


def test_a_page_view_from_an_ad_is_attributed_end_to_end():
    # Given a landing page URL from a Google ad, reached from Google
    path, params = split_path("/pricing?utm_source=google&utm_medium=cpc&utm_campaign=Brand&gclid=Cj0K#top")
    # When it is attributed
    attribution = attribute(
        path_params=params,
        explicit_utm={},
        explicit_click_ids=(),
        referrer="https://www.google.com/search?q=private+query",
        site_hosts=SITE,
    )
    # Then it is paid search, and nothing of the referrer's query is kept
    assert path == "/pricing"
    assert attribution == Attribution(
        traffic_source="paid_search",
        referrer_host="www.google.com",
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="Brand",
        utm_term=None,
        utm_content=None,
        click_id_type="gclid",
    )


def test_a_referral_from_a_subdomain_of_the_site_is_direct_end_to_end():
    attribution = attribute(
        path_params={},
        explicit_utm={},
        explicit_click_ids=(),
        referrer="https://Blog.Example.com:443/2024/launch",
        site_hosts=("www.example.com",),
    )
    assert attribution.traffic_source == "direct"
    assert attribution.referrer_host == "blog.example.com"


# is_bot and device_type


@pytest.mark.parametrize(
    ("user_agent", "bot", "device"),
    [
        (CHROME_WINDOWS, False, "desktop"),
        (EDGE_WINDOWS, False, "desktop"),
        (FIREFOX_LINUX, False, "desktop"),
        (SAFARI_MAC, False, "desktop"),
        (CHROME_OS, False, "desktop"),
        (IPHONE_SAFARI, False, "mobile"),
        (IPHONE_FACEBOOK_APP, False, "mobile"),
        (ANDROID_CHROME_PHONE, False, "mobile"),
        (SAMSUNG_INTERNET_PHONE, False, "mobile"),
        (FIREFOX_ANDROID_PHONE, False, "mobile"),
        (IPAD_SAFARI, False, "tablet"),
        (ANDROID_CHROME_TABLET, False, "tablet"),
        (FIREFOX_ANDROID_TABLET, False, "tablet"),
        (SAMSUNG_TV, False, "unknown"),
        (PLAYSTATION, False, "unknown"),
        ("Mozilla/5.0", False, "unknown"),
        (GOOGLEBOT, True, "bot"),
        (GOOGLEBOT_SMARTPHONE, True, "bot"),
        (BINGBOT, True, "bot"),
        (GPTBOT, True, "bot"),
        ("curl/8.7.1", True, "bot"),
        ("python-requests/2.32.3", True, "bot"),
        ("Wget/1.21.4", True, "bot"),
        (HEADLESS_CHROME, True, "bot"),
        (FACEBOOK_PREVIEW, True, "bot"),
        (SLACKBOT, True, "bot"),
        ("", True, "bot"),
        ("   ", True, "bot"),
        (None, True, "bot"),
    ],
)
def test_user_agents_are_classified(user_agent, bot, device):
    assert is_bot(user_agent) is bot
    assert device_type(user_agent) == device


def test_surrounding_white_space_does_not_change_the_class():
    assert device_type(f"  {IPHONE_SAFARI}\n") == "mobile"


def test_a_user_agent_is_read_to_its_1024th_character_and_no_further():
    # Given a browser user agent padded so that a bot token ends on its 1024th character
    token = " Googlebot"
    padding = "x" * (1024 - len(IPHONE_SAFARI) - 1 - len(token))
    assert len(f"{IPHONE_SAFARI} {padding}{token}") == 1024

    # Then the token is read there, and not one character further
    assert device_type(f"{IPHONE_SAFARI} {padding}{token}") == "bot"
    assert device_type(f"{IPHONE_SAFARI} {padding}x{token}") == "mobile"


def test_a_huge_user_agent_is_classified_by_its_start():
    # Given a browser user agent padded far beyond any real one, with a bot token at the end
    padded = IPHONE_SAFARI + " " + "x" * (MAX_USER_AGENT_LENGTH * 10) + " Googlebot/2.1"
    # Then only the start counts: the padding cannot make it expensive or a bot
    assert device_type(padded) == "mobile"


# country


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"cloudfront-viewer-country": "CA"}, "CA"),
        ({"cloudfront-viewer-country": "de"}, "DE"),
        ({"cloudfront-viewer-country": " gb "}, "GB"),
        ({"cloudfront-viewer-country": "XK"}, "XK"),
        ({"cloudfront-viewer-country": "XX"}, None),
        ({"cloudfront-viewer-country": "zz"}, None),
        ({"cloudfront-viewer-country": "EU"}, None),
        ({"cloudfront-viewer-country": "T1"}, None),
        ({"cloudfront-viewer-country": "A1"}, None),
        ({"cloudfront-viewer-country": "CAN"}, None),
        ({"cloudfront-viewer-country": "C"}, None),
        ({"cloudfront-viewer-country": ""}, None),
        ({"cloudfront-viewer-country": "ß"}, None),
        ({"cloudfront-viewer-country": "ÄÖ"}, None),
        ({"cloudfront-viewer-country-name": "Canada"}, None),
        ({}, None),
    ],
)
def test_country_comes_from_cloudfronts_header_when_it_is_a_country_code(headers, code):
    assert country(headers) == code


def test_a_repeated_user_agent_is_parsed_once():
    # Given a user agent classified once
    agent = SAFARI_MAC + " funnel-cache-probe"
    device_type(agent)
    hits = _classify_user_agent.cache_info().hits
    # When the next request carries it again
    assert is_bot(agent) is False
    # Then the answer comes from the cache
    assert _classify_user_agent.cache_info().hits == hits + 1
