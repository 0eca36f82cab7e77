"""Classification of a marketing-site page view: where the visitor came from (referrer,
UTM tags, ad click ids), on what kind of device, from which country, and whether it was a
bot. Pure functions, no I/O: the collect handler calls them once per beacon and stores
the result on ``sessions`` and ``web_traffic_logs``.

Nothing here keeps a referrer's path or query, a click id's value or the user agent
itself: those can hold personal data, and the tables only need the dimensions.

Bots are recognised by ``crawlerdetect`` (a port of JayBizzle/Crawler-Detect's maintained
pattern lists), not kept by hand here. The kind of device follows uap-core's operating
system and device patterns (ua-parser's), condensed here to the few that decide a kind:
ua-parser's general parser cost a cold start about 110 ms and 4 MB of the layer, these
rules about 3 ms. tests/unit/test_device_rules.py checks that both class every user agent
of its corpus alike, against the ua-parser-builtins that requirements-dev.txt pins:
upgrading it checks the rules against uap-core's new release.
The traffic-source rules are docs/metrics.md#channel-classification.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal
from urllib.parse import parse_qsl, urlsplit

from crawlerdetect import CrawlerDetect  # type: ignore[import-untyped]

from funnel.platform.emails import redact_emails

type TrafficSource = Literal["direct", "organic_search", "paid_search", "social", "email", "referral"]
type DeviceType = Literal["desktop", "mobile", "tablet", "bot", "unknown"]

MAX_PATH_LENGTH = 2048
MAX_UTM_LENGTH = 255
# A user agent longer than any browser sends is cut, so that a hostile header can neither
# make the bot patterns scan megabytes nor fill the cache with huge keys.
MAX_USER_AGENT_LENGTH = 1024
# Enough for the distinct user agents a warm function sees in its lifetime: real traffic
# is dominated by a few hundred browser builds, so hits are the rule.
USER_AGENT_CACHE_SIZE = 4096

UTM_PARAMS: Final = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")

# Query parameter -> (click-id type, channel it proves), in priority order: when a landing
# URL carries several (an ad's URL later shared on Facebook), the paid-search id wins.
# fbclid is social, not paid: Facebook and Instagram append it to every outbound link,
# organic posts included, so it proves the platform but not an ad. The other social
# networks' ids mark ads, but paid social is counted as social, there being no paid_social
# bucket. dclid (Google's display and video ads) is counted with Google's search ids for
# the same reason: there is no display bucket.
CLICK_IDS: Final[Mapping[str, tuple[str, TrafficSource]]] = MappingProxyType(
    {
        "gclid": ("gclid", "paid_search"),
        "gbraid": ("gbraid", "paid_search"),
        "wbraid": ("wbraid", "paid_search"),
        "dclid": ("dclid", "paid_search"),
        "msclkid": ("msclkid", "paid_search"),
        "yclid": ("yclid", "paid_search"),
        "fbclid": ("fbclid", "social"),
        "ttclid": ("ttclid", "social"),
        "li_fat_id": ("li_fat_id", "social"),
        "twclid": ("twclid", "social"),
    }
)
_CLICK_ID_CHANNELS: Final = {kind: channel for kind, channel in CLICK_IDS.values()}
_ATTRIBUTION_PARAMS: Final = frozenset(UTM_PARAMS) | frozenset(CLICK_IDS)

# utm_medium values, compared lower-cased with inner white space turned into "-".
_PAID_SEARCH_MEDIUMS: Final = frozenset({"cpc", "ppc", "paidsearch", "paid-search", "paid_search", "sem"})
_EMAIL_MEDIUMS: Final = frozenset({"email", "e-mail", "e_mail", "newsletter"})
_EMAIL_SOURCES: Final = frozenset({"email", "e-mail", "newsletter"})
_SOCIAL_MEDIUMS: Final = frozenset(
    {
        "social",
        "social-network",
        "social_network",
        "social-media",
        "social_media",
        "sm",
        "paid-social",
        "paid_social",
        "paidsocial",
    }
)

# Hosts matched as themselves or any subdomain (m., www., l., lm., old., ...).
_SOCIAL_HOSTS: Final = frozenset(
    {
        "facebook.com",
        "fb.com",
        "fb.me",
        "messenger.com",
        "instagram.com",
        "threads.net",
        "threads.com",
        "t.co",
        "twitter.com",
        "x.com",
        "linkedin.com",
        "lnkd.in",
        "reddit.com",
        "redd.it",
        "youtube.com",
        "youtu.be",
        "pinterest.com",
        "pin.it",
        "tiktok.com",
        "news.ycombinator.com",
        "mastodon.social",
        "bsky.app",
        "tumblr.com",
        "quora.com",
        "snapchat.com",
        "vk.com",
        "weibo.com",
    }
)
# utm_source names that campaign links use for those networks.
_SOCIAL_SOURCES: Final = frozenset(
    {
        "facebook",
        "fb",
        "instagram",
        "ig",
        "meta",
        "threads",
        "twitter",
        "x",
        "linkedin",
        "reddit",
        "youtube",
        "pinterest",
        "tiktok",
        "hackernews",
        "mastodon",
        "bluesky",
        "tumblr",
        "quora",
        "snapchat",
    }
)
_SEARCH_ENGINE_HOSTS: Final = frozenset(
    {
        "bing.com",
        "duckduckgo.com",
        "search.yahoo.com",
        "search.yahoo.co.jp",
        "ya.ru",
        "baidu.com",
        "ecosia.org",
        "search.brave.com",
        "startpage.com",
        "kagi.com",
        "qwant.com",
        "search.naver.com",
        "search.seznam.cz",
        "ask.com",
    }
)
# Engines with a domain per country (google.de, google.co.uk, yandex.com.tr). Only the
# bare domain and its www. or m. host count: these companies run mail, documents, news and
# translation on other subdomains, and a click from those is not a search.
_SEARCH_ENGINE_BRANDS: Final = frozenset({"google", "yandex"})
_BRAND_HOST = re.compile(r"(?:www\.|m\.)?(?P<brand>[a-z0-9-]+)\.(?:com|[a-z]{2}|(?:co|com)\.[a-z]{2})")
_SEARCH_ENGINE_SOURCES: Final = frozenset(
    {
        "google",
        "bing",
        "yahoo",
        "duckduckgo",
        "yandex",
        "baidu",
        "ecosia",
        "brave",
        "startpage",
        "kagi",
        "qwant",
        "naver",
        "seznam",
    }
)

_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_SCHEME_AND_AUTHORITY = re.compile(r"https?://[^/?#]*", re.IGNORECASE)
# C0 controls and DEL: PostgreSQL text cannot hold NUL, and none of them belongs in a path
# or a campaign name.
_CONTROL_CHARACTERS: Final = dict.fromkeys([*range(0x20), 0x7F])
_COUNTRY = re.compile(r"[A-Za-z]{2}")
# Two-letter codes geo databases use for "unknown" or a whole region, not a country. XK
# (Kosovo, user-assigned in ISO 3166 but used by CloudFront) is kept.
_NOT_COUNTRIES: Final = frozenset({"XX", "ZZ", "EU", "AP"})

# The operating system of a user agent, as far as its kind of device needs it ("desktop",
# "android", "ios" or "other": TVs, consoles, watches, feature phones), by the first of
# these rules that matches. They condense uap-core's OS patterns (ua-parser's, which
# tests/unit/test_device_rules.py checks them against) to the systems that decide a kind,
# in uap-core's order, so that the same system wins when a user agent names several (a
# Windows Phone that also says Android, a TV that also says Linux). A rule without a class
# takes the class of the family it matched.
type _System = Literal["desktop", "android", "ios", "other"]
_SYSTEM_RULES: Final[tuple[tuple[str, _System | None], ...]] = (
    (
        r"HbbTV/\d+\.\d+\.\d+ \((?: ;LGE ;NetCast [34]\.0|;;;;;\) Maple_2011|;Samsung;SmartTV\d{4};"
        r"|; Philips;.{0,200}NETTV/[234]|.{0,30}; ?[a-zA-Z]+ ?;.{0,30}201[1-9].{0,30}\))"
        r"|HbbTV/\d+\.\d+\.\d+.{0,100}firetv-firefox-plugin|AspiegelBot|PetalBot"
        r"|Windows Phone (?:OS[ /])?\d+\.\d+|CrKey",
        "other",
    ),
    (
        r"Android(?:[ \-/]\d| (?:Donut|Eclair|Froyo|Gingerbread|Honeycomb)|: \d)|^UCWEB.{0,200}; Adr \d+\.\d+"
        r"|^JUC.{0,200}; ?U; ?(?:Android)?\d+\.\d+|android\smobile/\d|Quest|Silk-Accelerated=[a-z]{4,5}",
        "android",
    ),
    (r"^UCWEB.{0,200}; (?:iPad|iPh|iPd) OS \d+_\d+;", "ios"),
    (r"^UCWEB.{0,200}; wds \d+\.\d+;|XBLWP7|Windows ?Mobile", "other"),
    (
        r"Win(?:dows)? ?(?:95|98|3.1|NT|ME|2000|XP|Vista|7|CE)|Windows ?CE|Windows 10|Win32NT/|Win 9x 4\.90"
        r"|WinNT4.0|Win16|Win32|^Box.{0,200}Windows/[\d.]+;",
        "desktop",
    ),
    (r"Tizen[/ ]\d+\.\d+", "other"),
    (r"Intel Mac OS X.+(?:CriOS|EdgiOS)/\d+", "ios"),
    (
        r"(?:Mac[ +]?|; )OS[ +]X[\s+/](?:\d+[_.]\d+|Mach-O)|Mac OS X\s.{1,50}\s\d+.\d+.\d+"
        r"| Darwin/(?:9|1[0-3]).\d+.{0,100}\((?:i386|x86_64|Power Macintosh)\)|Mac_PowerPC"
        r"|(?:PPC|Intel) Mac OS X|^Box.{0,200};Darwin/10\.1\d|darwin; arm64",
        "desktop",
    ),
    (r"Apple\s?TV", "other"),
    (
        r"(?:CPU[ +]OS|iPhone[ +]OS|CPU[ +]iPhone|CPU IPhone OS|CPU iPad OS)[ +]+\d+[_.]\d+"
        r"|(?:iPhone|iPad|iPod); Opera|(?:iPhone|iPad|iPod).{0,100}Mac OS X.{0,100}Version/\d+\.\d+",
        "ios",
    ),
    (r"CF ?Network/(?:720|760)\.\d|CFNetwork/.{0,100} Darwin/1[5-7]\.\d+.{0,100}\(x86_64\)", "desktop"),
    (
        r"CF ?Network/.{0,100} Darwin/|\(iOS;"
        r"|\b(?:iOS[ /]|iOS; |iPhone(?:/| v|[ _]OS[/,]|; | OS : |\d,\d/|\d,\d; )|iPad/)\d{1,2}[_.]\d{1,2}",
        "ios",
    ),
    (r"watchOS[/ ]\d+\.\d+", "other"),
    (r"Outlook-iOS/\d+\.\d+\.prod\.iphone|iPod|iPhone|iPad", "ios"),
    (r"tvOS[/ ]\d+\.\d+", "other"),
    (r"CrOS [a-z0-9_]+ \d+\.\d+|[Dd]ebian|Linux Mint|Mandriva(?: Linux)?/", "desktop"),
    (
        r"Symbian(?:[Oo][Ss][/ ]\d+\.\d+|/3| [Oo][Ss])|\b(?:Series 60|SymbOS|S60Version|S60V\d|S60\b)|MeeGo"
        r"|Series40;|Series30Plus;|BB10;.{1,200}Version/\d+\.\d+\.\d+|Black[Bb]erry"
        r"|RIM Tablet OS \d+\.\d+\.\d+|Play[Bb]ook|K[Aa][Ii]OS/\d+\.\d+"
        r"|\((?:Mobile|Tablet);.{1,200}Firefox/\d+\.\d+|BREW[ /]\d+\.\d+\.\d+|BREW;"
        r"|(?:Brew MP|BMP)[ /]\d+\.\d+\.\d+|BMP;|GoogleTV(?: \d+\.\d+|/[\da-z]+)|WebTV/\d+.\d+"
        r"|(?:hpw|web)OS/\d+\.\d+|VRE;",
        "other",
    ),
    (
        r"(?P<family>Fedora|Red Hat|PCLinuxOS|Puppy|Ubuntu|Kindle|Bada|Sailfish|Lubuntu|BackTrack|Slackware"
        r"|(?:Free|Open|Net|\b)BSD)[/ ]\d+\.\d+",
        None,
    ),
    (r"Linux[ /]\d+\.\d+(?:\.\d+|).{0,100}gentoo", "desktop"),
    (r"\(Bada;", "other"),
    (r"(?P<family>Windows|Android|WeTab|Maemo|Web0S)", None),
    (
        r"(?P<family>Ubuntu|Kubuntu|Arch Linux|CentOS|Slackware|Gentoo|openSUSE|SUSE|Red Hat|Fedora|PCLinuxOS"
        r"|Mageia|SerenityOS|(?:Free|Open|Net|\b)BSD)",
        None,
    ),
    (r"Linux|SunOS|\(linux-gnu\)|\(x86_64-redhat-linux-gnu\)|\(freebsd\d+\.\d+\)|linux|os/macos", "desktop"),
)
# uap-core OS families of desktop and laptop computers, for the rules without a class.
_DESKTOP_OS_FAMILIES: Final = frozenset(
    {
        "Windows",
        "Ubuntu",
        "Kubuntu",
        "Fedora",
        "Red Hat",
        "CentOS",
        "SUSE",
        "Arch Linux",
        "Gentoo",
        "Slackware",
        "Mageia",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
    }
)
# An iPad or a generic tablet by uap-core's device patterns: an Apple model number (the
# first decides: an iPhone's app may name an iPad later), an iPad's own token, Puffin's
# tablet builds, Opera's and Firefox's tablet tokens.
_APPLE_MODEL = r"(?P<model>iPhone|iPad|iPod)\d+,\d+"
_TABLET_DEVICE = (
    r"iPad(?:;| Simulator;| Build|\) AppleWebKit)|Puffin/[\d.]+[IA]T"
    r"|(?i:Opera Tablet|Tablet; .{1,100}Firefox/)"
)

# One detector for the process: it compiles its patterns once, on first use.
_CRAWLER_DETECT = CrawlerDetect()


@dataclass(frozen=True, slots=True)
class Attribution:
    """The acquisition dimensions of a session or page view, as stored."""

    traffic_source: TrafficSource
    referrer_host: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    click_id_type: str | None


def referrer_host(referrer: str | None) -> str | None:
    """Return the host of an http(s) referrer, or None.

    Parameters
    ----------
    referrer : str or None
        The page's ``document.referrer`` or the ``Referer`` header.

    Returns
    -------
    str or None
        The host, lower-cased, without port, user info or trailing dot. A leading
        ``www.`` is kept: it is the host the visitor came from, and matching against
        known hosts accepts subdomains anyway. None for an empty referrer, another scheme
        (``javascript:``, ``data:``, ``android-app:``), a relative URL, or a host that is
        not a DNS name or IPv4 address (IPv6 literals included).
    """
    try:
        parts = urlsplit((referrer or "").strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.rstrip(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    return host


def split_path(raw: str) -> tuple[str, dict[str, str]]:
    """Split a page path into the path alone and its attribution parameters.

    Parameters
    ----------
    raw : str
        A path as the site reports it, possibly with a query and fragment
        (``/pricing?utm_source=x&gclid=abc#top``). A full http(s) URL sent by mistake is
        accepted: its scheme and host are dropped.

    Returns
    -------
    tuple of (str, dict of str to str)
        The path, starting with ``/``, still percent-encoded (so that ``/a%2Fb`` and
        ``/a/b`` stay different pages), without control characters, email addresses
        replaced by ``[email]``, at most ``MAX_PATH_LENGTH`` characters; and the UTM and
        click-id parameters of the query, keys lower-cased, values decoded, trimmed,
        addresses replaced and capped at ``MAX_UTM_LENGTH``. The
        first non-blank value of a parameter wins; blank ones count as absent. A query
        inside the fragment (``#/x?utm_source=y``) is not the page's query and is ignored.
    """
    text = _SCHEME_AND_AUTHORITY.sub("", raw.strip().translate(_CONTROL_CHARACTERS), count=1)
    path, _, query = text.partition("#")[0].partition("?")
    if not path.startswith("/"):
        path = "/" + path
    path = redact_emails(path)
    params: dict[str, str] = {}
    # Redacted before decoding too: decoding turns the "+" of "ada+news@example.org" into
    # a space, which would leave "ada" outside the address.
    for key, value in parse_qsl(redact_emails(query)):
        name = key.lower()
        if name in _ATTRIBUTION_PARAMS and name not in params and (cleaned := _clean_value(value)):
            params[name] = cleaned
    return path[:MAX_PATH_LENGTH], params


def click_id_type(params: Collection[str]) -> str | None:
    """Return the type of the highest-priority ad click id present, or None.

    Parameters
    ----------
    params : collection of str
        Lower-cased parameter names: the mapping from :func:`split_path` or a set of
        names the site reports.

    Returns
    -------
    str or None
        For example ``"gclid"``; the order of ``CLICK_IDS`` decides between several.
    """
    return next((kind for name, (kind, _) in CLICK_IDS.items() if name in params), None)


def traffic_source(
    *,
    referrer_host: str | None,
    site_hosts: Collection[str],
    utm_source: str | None,
    utm_medium: str | None,
    click_id_type: str | None,
) -> TrafficSource:
    """Return the one traffic source bucket a visit belongs to.

    The first rule that holds decides:

    1. paid search: a paid-search medium (``cpc``, ``ppc``, ``sem``, ``paid-search``, ...,
       or ``paid`` from a search engine source) unless the source is a social network
       (Facebook and LinkedIn ads are commonly tagged ``cpc`` too), or a paid-search
       click id;
    2. email: an email or newsletter medium, or an ``email``/``newsletter`` source;
    3. social: a social medium (paid social included), a social click id, a social
       network as utm_source, or a social network's referrer;
    4. organic search: a search engine's referrer;
    5. organic search: the ``organic`` medium;
    6. referral: any other utm_source or utm_medium. A tagged link was placed somewhere
       outside the site even when no referrer arrived (apps and ``Referrer-Policy``
       often strip it), so this is not direct traffic, with or without a referrer;
    7. direct: no referrer, or one from the site itself (a site host or its subdomain);
    8. referral: any other referrer.

    Parameters
    ----------
    referrer_host : str or None
        From :func:`referrer_host`.
    site_hosts : collection of str
        The site's own hosts; their subdomains count as the site too, and a leading
        ``www.`` is ignored (``www.example.com`` also owns ``example.com``).
    utm_source, utm_medium : str or None
        As tagged; compared case-insensitively.
    click_id_type : str or None
        From :func:`click_id_type`.

    Returns
    -------
    TrafficSource
        One of ``direct``, ``organic_search``, ``paid_search``, ``social``, ``email``,
        ``referral``.
    """
    source = _token(utm_source)
    medium = _token(utm_medium)
    host = referrer_host.lower().rstrip(".") if referrer_host else None
    click_channel = _CLICK_ID_CHANNELS.get(click_id_type) if click_id_type else None
    social_source = source is not None and (source in _SOCIAL_SOURCES or _within(source, _SOCIAL_HOSTS))

    paid_medium = medium in _PAID_SEARCH_MEDIUMS or (medium == "paid" and _is_search_engine_source(source))
    if (paid_medium and not social_source) or click_channel == "paid_search":
        return "paid_search"
    if medium in _EMAIL_MEDIUMS or source in _EMAIL_SOURCES:
        return "email"
    if (
        medium in _SOCIAL_MEDIUMS
        or click_channel == "social"
        or social_source
        or (host is not None and _within(host, _SOCIAL_HOSTS))
    ):
        return "social"
    if (host is not None and _is_search_engine_host(host)) or medium == "organic":
        return "organic_search"
    if source or medium:
        return "referral"
    if host is None or _within(host, _site_domains(site_hosts)):
        return "direct"
    return "referral"


def attribute(
    *,
    path_params: Mapping[str, str],
    explicit_utm: Mapping[str, str | None],
    explicit_click_ids: Collection[str],
    referrer: str | None,
    site_hosts: Collection[str],
) -> Attribution:
    """Combine a page view's signals into its attribution.

    Parameters
    ----------
    path_params : mapping of str to str
        The parameters :func:`split_path` found in the page's query.
    explicit_utm : mapping of str to (str or None)
        UTM values the site sent in the event body, keyed ``utm_source`` ...
        ``utm_content``; a non-blank one wins over the path's.
    explicit_click_ids : collection of str
        Click-id parameter names the site reports (any case); they win over the path's.
    referrer : str or None
        The raw referrer; only its host is kept.
    site_hosts : collection of str
        The site's own hosts, for self-referrals.

    Returns
    -------
    Attribution
        UTM values trimmed and capped at ``MAX_UTM_LENGTH`` but in their own case:
        campaign names are shown as the marketer wrote them.
    """
    utm = {
        name: _clean_value(explicit_utm.get(name)) or _clean_value(path_params.get(name))
        for name in UTM_PARAMS
    }
    host = referrer_host(referrer)
    click_id = click_id_type({name.lower() for name in explicit_click_ids}) or click_id_type(path_params)
    return Attribution(
        traffic_source=traffic_source(
            referrer_host=host,
            site_hosts=site_hosts,
            utm_source=utm["utm_source"],
            utm_medium=utm["utm_medium"],
            click_id_type=click_id,
        ),
        referrer_host=host,
        utm_source=utm["utm_source"],
        utm_medium=utm["utm_medium"],
        utm_campaign=utm["utm_campaign"],
        utm_term=utm["utm_term"],
        utm_content=utm["utm_content"],
        click_id_type=click_id,
    )


def is_bot(user_agent: str | None) -> bool:
    """Return whether a user agent is a bot, crawler, script or link previewer.

    Parameters
    ----------
    user_agent : str or None
        The ``User-Agent`` header.

    Returns
    -------
    bool
        True for what ``crawlerdetect`` recognises (search and SEO crawlers, headless
        browsers, HTTP libraries, link preview fetchers), and for a missing or blank user
        agent: every browser sends one, and scripts and health checks often send none.
    """
    return device_type(user_agent) == "bot"


def device_type(user_agent: str | None) -> DeviceType:
    """Return the kind of device a user agent belongs to.

    Parameters
    ----------
    user_agent : str or None
        The ``User-Agent`` header.

    Returns
    -------
    DeviceType
        ``bot`` whenever :func:`is_bot` holds. Otherwise, from the operating system and
        device (uap-core's, see the module's note):
        ``tablet`` for iPads and Android devices whose browser leaves out the ``Mobile``
        token (Chrome's convention on tablets) or says ``Tablet`` (Firefox's); ``mobile``
        for a ``Mobi`` token (the convention MDN documents) or iOS; ``desktop`` for a
        desktop operating system; ``unknown`` for the rest (TVs, consoles, unknown
        strings). iPadOS Safari asks for desktop sites with a Mac user agent, so it is
        counted as desktop: no user agent rule can tell them apart.
    """
    agent = (user_agent or "").strip()[:MAX_USER_AGENT_LENGTH]
    if not agent:
        return "bot"
    return _classify_user_agent(agent)


def country(headers: Mapping[str, str]) -> str | None:
    """Return the viewer's ISO 3166-1 alpha-2 country code from CloudFront, or None.

    Parameters
    ----------
    headers : mapping of str to str
        Request headers with lower-cased names, as API Gateway passes them.

    Returns
    -------
    str or None
        The ``cloudfront-viewer-country`` value upper-cased, if it is two ASCII letters
        and not a placeholder for "unknown" or a region (``XX``, ``ZZ``, ``EU``, ``AP``).
        Other values (``T1`` for Tor, empty, longer) are None.
    """
    value = headers.get("cloudfront-viewer-country", "").strip()
    if not _COUNTRY.fullmatch(value) or value.upper() in _NOT_COUNTRIES:
        return None
    return value.upper()


@functools.lru_cache(maxsize=USER_AGENT_CACHE_SIZE)
def _classify_user_agent(user_agent: str) -> DeviceType:
    # The same few hundred user agents repeat on every request, and an uncached look-up
    # costs a few hundred microseconds (nearly all of it the crawler patterns).
    if _is_crawler(user_agent):
        return "bot"
    system = _system(user_agent)
    if _is_tablet_device(user_agent) or (system == "android" and "Mobi" not in user_agent):
        return "tablet"
    if "Mobi" in user_agent or system == "ios":
        return "mobile"
    if system == "desktop":
        return "desktop"
    return "unknown"


@dataclass(frozen=True, slots=True)
class _DeviceRules:
    systems: tuple[tuple[re.Pattern[str], _System | None], ...]
    apple_model: re.Pattern[str]
    tablet: re.Pattern[str]


@functools.cache
def _device_rules() -> _DeviceRules:
    """The device rules, compiled on the first classification of a container (about 3 ms)
    rather than at import."""
    return _DeviceRules(
        systems=tuple((re.compile(pattern), system) for pattern, system in _SYSTEM_RULES),
        apple_model=re.compile(_APPLE_MODEL),
        tablet=re.compile(_TABLET_DEVICE),
    )


def _system(user_agent: str) -> _System:
    for pattern, system in _device_rules().systems:
        if matched := pattern.search(user_agent):
            if system is not None:
                return system
            family = matched["family"]
            if family == "Android":
                return "android"
            return "desktop" if family in _DESKTOP_OS_FAMILIES else "other"
    return "other"


def _is_tablet_device(user_agent: str) -> bool:
    rules = _device_rules()
    if model := rules.apple_model.search(user_agent):
        return model["model"] == "iPad"
    return rules.tablet.search(user_agent) is not None


def _is_crawler(user_agent: str) -> bool:
    # crawlerdetect ships no type information; this is its one typed entry point.
    return bool(_CRAWLER_DETECT.is_crawler(user_agent))


def _clean_value(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = redact_emails(value.translate(_CONTROL_CHARACTERS).strip())[:MAX_UTM_LENGTH].rstrip()
    return cleaned or None


def _token(value: str | None) -> str | None:
    # "Paid Search" and "paid-search" are the same medium.
    words = value.lower().split() if value else []
    return "-".join(words) or None


def _within(host: str, domains: Collection[str]) -> bool:
    # Walking up the labels, rather than testing endswith(), is what keeps
    # notfacebook.com from matching facebook.com.
    while True:
        if host in domains:
            return True
        _, dot, host = host.partition(".")
        if not dot:
            return False


def _is_search_engine_host(host: str) -> bool:
    brand = _BRAND_HOST.fullmatch(host)
    return _within(host, _SEARCH_ENGINE_HOSTS) or (
        brand is not None and brand["brand"] in _SEARCH_ENGINE_BRANDS
    )


def _is_search_engine_source(source: str | None) -> bool:
    return source is not None and (source in _SEARCH_ENGINE_SOURCES or _is_search_engine_host(source))


def _site_domains(site_hosts: Collection[str]) -> frozenset[str]:
    return frozenset(host.strip().lower().rstrip(".").removeprefix("www.") for host in site_hosts)
