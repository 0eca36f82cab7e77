"""The static-files function (GET /funnel.js): the file, gzipped when the browser accepts
it, with a validator per encoding, cache headers, 304 for a current copy, and a cold start
that imports the standard library only."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from assets_handler import (
    ASSETS,
    CACHE_CONTROL,
    Asset,
    accepts_gzip,
    etag_matches,
    lambda_handler,
    load_asset,
)
from tests.builders import api_event

REPO = Path(__file__).resolve().parents[2]
SERVED = REPO / "functions" / "assets" / "static" / "funnel.js"


def get(headers: dict[str, str | None] | None = None, **changes: object) -> dict[str, object]:
    event = api_event("assets/get_funnel_js", headers=headers)
    event.update(changes)
    return lambda_handler(event, None)


def test_a_browser_that_accepts_gzip_gets_the_tracker_gzipped_with_its_headers():
    # Given the sample request of a browser (Accept-Encoding: gzip, deflate, br, zstd)
    # When it asks for /funnel.js
    response = get()

    # Then it gets the committed file, gzipped, as JavaScript that may be cached for a day
    headers = response["headers"]
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert gzip.decompress(base64.b64decode(response["body"])) == SERVED.read_bytes()
    assert headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Cache-Control"] == CACHE_CONTROL == "public, max-age=86400, stale-while-revalidate=604800"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert headers["ETag"].startswith('"') and headers["ETag"].endswith('-gzip"')


def test_a_client_without_gzip_gets_the_plain_file_under_another_validator():
    # Given a client that names no encoding it accepts
    # When it asks for /funnel.js
    plain = get({"accept-encoding": None})
    gzipped = get()

    # Then the body is the file's text, not encoded, and its ETag is not the gzip one's
    assert plain["statusCode"] == 200 and plain["isBase64Encoded"] is False
    assert plain["body"] == SERVED.read_text(encoding="utf-8")
    assert "Content-Encoding" not in plain["headers"]
    assert plain["headers"]["ETag"] != gzipped["headers"]["ETag"]


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"stale", {etag}', "*"],
    ids=["exact", "weak", "in-a-list", "any"],
)
def test_a_current_copy_is_answered_304_without_a_body(if_none_match):
    # Given the ETag of the gzipped file a browser holds
    etag = get()["headers"]["ETag"]

    # When it revalidates with If-None-Match naming it
    response = get({"if-none-match": if_none_match.format(etag=etag)})

    # Then the answer is 304 with the validator and cache headers and nothing else
    assert response == {
        "statusCode": 304,
        "headers": {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"},
        "body": "",
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    "stale", ['"0123456789abcdef"', "{plain}", ""], ids=["old", "other-encoding", "empty"]
)
def test_a_stale_or_other_validator_gets_the_file(stale):
    # Given a browser holding another version, or the plain file's ETag while it accepts gzip
    plain_etag = get({"accept-encoding": None})["headers"]["ETag"]

    # When it revalidates
    response = get({"if-none-match": stale.format(plain=plain_etag)})

    # Then it gets the whole gzipped file again
    assert response["statusCode"] == 200 and response["headers"]["Content-Encoding"] == "gzip"


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("br, gzip;q=0.001", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("gzip;q=nonsense", False),
        ("br, zstd", False),
        ("identity", False),
        ("", False),
        (None, False),
    ],
)
def test_gzip_is_sent_only_when_accept_encoding_allows_it(accept_encoding, expected):
    assert accepts_gzip(accept_encoding) is expected


def test_if_none_match_uses_the_weak_comparison():
    assert etag_matches('W/"abc"', '"abc"')
    assert not etag_matches('"abcd"', '"abc"')
    assert not etag_matches(None, '"abc"')


def test_the_validator_follows_the_bytes_and_nothing_else(tmp_path):
    # Given a file loaded twice, then changed by one byte
    asset = Asset(file="a.js", content_type="application/javascript", summary="a")
    (tmp_path / "a.js").write_text("var a=1;\n")
    first, again = load_asset(asset, tmp_path), load_asset(asset, tmp_path)
    (tmp_path / "a.js").write_text("var a=2;\n")
    changed = load_asset(asset, tmp_path)

    # Then equal bytes give equal ETags and equal gzip bytes (no timestamp in them), and
    # another byte gives another ETag for each encoding
    assert (first.plain, first.gzipped) == (again.plain, again.gzipped)
    assert changed.plain.etag != first.plain.etag and changed.gzipped.etag != first.gzipped.etag


def test_a_path_that_is_no_file_is_404_and_another_method_405():
    missing = get(rawPath="/nothing.js")
    posted = api_event("assets/get_funnel_js")
    posted["requestContext"]["http"]["method"] = "POST"

    assert missing["statusCode"] == 404
    assert json.loads(missing["body"]) == {"ok": False, "error": "not_found", "details": None}
    answer = lambda_handler(posted, None)
    assert (answer["statusCode"], answer["headers"]["Allow"]) == (405, "GET")
    assert json.loads(answer["body"])["error"] == "method_not_allowed"


def test_every_asset_is_a_committed_file():
    assert ASSETS and all((SERVED.parent / asset.file).is_file() for asset in ASSETS.values())


def test_the_handler_imports_nothing_but_the_standard_library():
    # Given a fresh interpreter, as a cold start
    # When it imports the handler module
    code = (
        "import sys, assets_handler; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'funnel', 'pydantic', 'aws_lambda_powertools', 'psycopg', 'boto3', 'botocore', 'numpy'}))"
    )
    loaded = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SERVED.parents[1]
    )

    # Then none of the layer's packages were loaded
    assert loaded.stdout.strip() == "[]"
