"""The device rules of funnel.capture.classify against what they condense: uap-core's
operating system and device patterns, as ua-parser (a development dependency only) reads
them. Every user agent of the corpus must be classed alike."""

from __future__ import annotations

import itertools

import pytest
from crawlerdetect import CrawlerDetect  # type: ignore[import-untyped]
from ua_parser import Domain, load_lazy_builtins
from ua_parser.regex import Resolver

from funnel.capture.classify import device_type

# Systems and devices as browsers write them in the parenthesis after Mozilla/5.0 ...
PLATFORMS = (
    "Windows NT 10.0; Win64; x64",
    "Windows NT 6.1; WOW64",
    "Windows NT 10.0; Win64; x64; Xbox; Xbox One",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
    "X11; Ubuntu; Linux x86_64",
    "X11; Fedora; Linux x86_64",
    "X11; FreeBSD amd64",
    "X11; CrOS x86_64 14541.0.0",
    "X11; CrOS aarch64 15633.69.0",
    "Linux; Android 14; SM-S918B",
    "Linux; Android 13; SM-X710",
    "Linux; Android 10; K",
    "Linux; Android 14",
    "Linux; Android 12; Pixel 6 Build/SP1A.210812.016",
    "Linux; Android 9; AFTMM Build/PS7233",
    "Linux; U; Android 4.0.4; en-us; KFJWI Build/IMM76D",
    "Linux; Android 10; HarmonyOS; ELS-AN00",
    "iPhone; CPU iPhone OS 17_5 like Mac OS X",
    "iPad; CPU OS 17_6 like Mac OS X",
    "iPod touch; CPU iPhone OS 15_8 like Mac OS X",
    "SMART-TV; LINUX; Tizen 6.0",
    "Web0S; Linux/SmartTV",
    "PlayStation; PlayStation 5/2.26",
    "Nintendo Switch; WifiWebAuthApplet",
    "Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950",
    "Mobile; rv:48.0",
    "X11; Linux x86_64; Quest 2",
)
# ... and what follows it.
ENGINES = (
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
    "Gecko/20100101 Firefox/133.0",
    "Gecko/133.0 Firefox/133.0 KAIOS/3.1",
)
# Whole user agents: in-app browsers, old and odd systems, TVs, consoles, feature phones.
USER_AGENTS = (
    "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
    "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Tablet) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 8.1.0; Tab8 Mobile) Gecko/20100101 Firefox/68.0",
    "Mozilla/5.0 (Linux; Android 5.1; iPad Build/LMY47D) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/80.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; Lenovo TAB 2 A7-30HC Build/LRX21M) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/80.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240705.005; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 "
    "Instagram 339.0.0.30.105 Android",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US]",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBDV/iPad7,3;FBMD/iPad;FBSN/iPadOS;FBSV/17.5;FBSS/2;FBID/tablet;FBLC/en_US]",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 "
    "CrKey/1.56.500000",
    "Mozilla/5.0 (Linux; Android 9; SHIELD Android TV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Tizen 2.3; SmartHub; SMART-TV; SmartTV; U; Maple2012) AppleWebKit/538.1+ "
    "(KHTML, like Gecko) TV Safari/538.1+ HbbTV/2.0.2 (+DRM;Samsung;SmartTV2020;T-KSU2EDEUC-1502.0;;)",
    "HbbTV/1.5.1 (+DRM;Samsung;SmartTV2019;T-KTMAKUC-1490.3;;) Tizen/5.0 (+TVPLUS+SmartHubLink) "
    "Chrome/56 LaTivu_1.0.1_2019 RVID/4",
    "Mozilla/5.0 (PlayStation 4 11.00) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Windows Mobile 10; Android 10.0; Microsoft; Lumia 950XL) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/70.0 Mobile Safari/537.36 Edge/40.15254.603",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; ARM; Trident/6.0; Touch)",
    "Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/5.0 (Windows NT 5.1; rv:52.0) Gecko/20100101 Firefox/52.0",
    "Mozilla/5.0 (X11; OpenBSD amd64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux aarch64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 6.0.1; SM-T560NU) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0 "
    "Safari/537.36 Puffin/9.0.0.50263AT",
    "Mozilla/5.0 (X11; U; Linux x86_64; en-AU) AppleWebKit/534.35 (KHTML, like Gecko) Chrome/11.0.696.65 "
    "Safari/534.35 Puffin/3.9174IT",
    "Mozilla/5.0 (X11; U; Linux x86_64; en-AU) AppleWebKit/534.35 (KHTML, like Gecko) Chrome/11.0.696.65 "
    "Safari/534.35 Puffin/3.9174IP Mobile",
    "Opera/9.80 (Android 3.2; Linux; Opera Tablet/ADR-1106291546; U; en) Presto/2.8.149 Version/11.10",
    "Mozilla/5.0 (Tablet; rv:29.0) Gecko/29.0 Firefox/29.0",
    "Mozilla/5.0 (BB10; Touch) AppleWebKit/537.10+ (KHTML, like Gecko) Version/10.1.0.4633 "
    "Mobile Safari/537.10+",
    "Mozilla/5.0 (Mobile; Nokia_8110_4G; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5.1",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-A536B Build/TP1A.220624.014)",
    "MyApp/5.2 CFNetwork/1496.0.7 Darwin/23.5.0",
    "MyApp/5.2 (iPhone; iOS 17.5; Scale/3.00)",
    "MyApp/5.2 (Macintosh; OS X 14.5.0) AppleWebKit/605.1.15",
    "Mozilla/5.0",
    "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.13) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/114.0 HuaweiBrowser/14.0 Mobile Safari/537.36",
)
CORPUS = sorted(
    {f"Mozilla/5.0 ({platform}) {engine}" for platform, engine in itertools.product(PLATFORMS, ENGINES)}
    | set(USER_AGENTS)
)
TABLET_FAMILIES = frozenset({"iPad", "Generic Tablet"})
DESKTOP_FAMILIES = frozenset(
    {"Windows", "Mac OS X", "Mac OS", "Chrome OS", "Linux", "Ubuntu", "Kubuntu", "Linux Mint", "Debian"}
    | {"Fedora", "Red Hat", "CentOS", "SUSE", "Arch Linux", "Gentoo", "Slackware", "Mandriva", "Mageia"}
    | {"FreeBSD", "OpenBSD", "NetBSD", "Solaris"}
)


@pytest.fixture(scope="module")
def uap_device_type():
    """The kind of device as it was decided from ua-parser's OS and device families."""
    _, systems, devices = load_lazy_builtins()
    resolve = Resolver(([], systems, devices))
    crawlers = CrawlerDetect()

    def classify(user_agent: str) -> str:
        if crawlers.is_crawler(user_agent):
            return "bot"
        parsed = resolve(user_agent, Domain.OS | Domain.DEVICE)
        system = parsed.os.family if parsed.os else None
        device = parsed.device.family if parsed.device else None
        if device in TABLET_FAMILIES or (system == "Android" and "Mobi" not in user_agent):
            return "tablet"
        if "Mobi" in user_agent or system == "iOS":
            return "mobile"
        return "desktop" if system in DESKTOP_FAMILIES else "unknown"

    return classify


@pytest.mark.parametrize("user_agent", CORPUS)
def test_the_device_rules_class_a_user_agent_as_uap_core_does(user_agent, uap_device_type):
    assert device_type(user_agent) == uap_device_type(user_agent)


def test_the_corpus_holds_every_kind_of_device(uap_device_type):
    assert {uap_device_type(user_agent) for user_agent in CORPUS} == {
        "desktop",
        "mobile",
        "tablet",
        "unknown",
    }
