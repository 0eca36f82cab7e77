"""Request bodies (funnel.platform.body), read without a request: what is admitted (size,
encoding, media type, on both sides of each limit), strict JSON, forms, and what a refused
request's accounting can read. The depth limit has its own module (test_strict_json_depth)."""

from __future__ import annotations

import base64
import json

import pytest

from funnel.platform.body import (
    FORM,
    JSON,
    MAX_FORM_FIELDS,
    MULTIPART,
    TEXT,
    admit,
    decoded,
    json_text,
    media_type,
    multipart_pairs,
    readable_document,
    strict_json,
    urlencoded_pairs,
)
from funnel.platform.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType

ACCEPTED = frozenset({JSON, TEXT, FORM})


class TestAdmit:
    @pytest.mark.parametrize("limit", [1, 256 * 1024])
    def test_a_body_of_the_limit_is_admitted_and_one_byte_more_is_413(self, limit):
        admit(b"x" * limit, max_bytes=limit, kind=JSON, accepted=ACCEPTED)
        with pytest.raises(PayloadTooLarge) as refused:
            admit(b"x" * (limit + 1), max_bytes=limit, kind=JSON, accepted=ACCEPTED)
        assert refused.value.status == 413 and refused.value.details == {"maxBytes": limit}

    def test_size_is_counted_in_bytes_not_characters(self):
        # Given four characters that are eight bytes in UTF-8
        text = "éééé".encode()
        admit(text, max_bytes=8, kind=TEXT, accepted=ACCEPTED)
        with pytest.raises(PayloadTooLarge):
            admit(text, max_bytes=7, kind=TEXT, accepted=ACCEPTED)

    @pytest.mark.parametrize("body", [b"\xff", b'{"a": "\xc3"}', "\ud800".encode("utf-8", "surrogatepass")])
    def test_a_body_that_is_not_utf8_is_400_invalid_body_encoding(self, body):
        with pytest.raises(MalformedRequest) as refused:
            admit(body, max_bytes=100, kind=JSON, accepted=ACCEPTED)
        assert refused.value.code == "invalid_body_encoding"

    def test_a_media_type_not_accepted_is_415_with_what_is(self):
        with pytest.raises(UnsupportedMediaType) as refused:
            admit(b"<a/>", max_bytes=100, kind="application/xml", accepted=ACCEPTED)
        assert refused.value.details == {"contentType": "application/xml", "accepted": sorted(ACCEPTED)}

    def test_a_long_media_type_is_echoed_cut_to_100_characters(self):
        with pytest.raises(UnsupportedMediaType) as refused:
            admit(b"x", max_bytes=100, kind="a/" + "b" * 200, accepted=ACCEPTED)
        assert len(refused.value.details["contentType"]) == 100

    @pytest.mark.parametrize(("body", "kind"), [(b"", "application/xml"), (b"{}", "")])
    def test_an_empty_body_or_one_of_no_media_type_is_not_refused_for_its_type(self, body, kind):
        admit(body, max_bytes=100, kind=kind, accepted=ACCEPTED)


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", JSON),
        ("Application/JSON; charset=UTF-8", JSON),
        (" text/plain ;charset=utf-8", TEXT),
        ("", ""),
    ],
)
def test_the_media_type_is_the_header_without_parameters_lower_cased(content_type, kind):
    assert media_type({"content-type": content_type}) == kind


def test_no_content_type_is_no_media_type():
    assert media_type({}) == ""


class TestDecoded:
    def test_text_is_its_utf8_bytes(self):
        assert decoded('{"a":"é"}', base64_encoded=False) == '{"a":"é"}'.encode()

    def test_a_lone_surrogate_is_kept_for_the_utf8_check_to_refuse(self):
        body = decoded("\ud800", base64_encoded=False)
        with pytest.raises(MalformedRequest):
            admit(body, max_bytes=100, kind=TEXT, accepted=ACCEPTED)

    def test_base64_is_decoded(self):
        assert decoded(base64.b64encode(b"\x00\xff").decode(), base64_encoded=True) == b"\x00\xff"

    @pytest.mark.parametrize("raw", ["not base64!", "YWJj=", "YWJ"])
    def test_base64_that_does_not_decode_is_400_invalid_body_encoding(self, raw):
        with pytest.raises(MalformedRequest) as refused:
            decoded(raw, base64_encoded=True)
        assert refused.value.code == "invalid_body_encoding"


class TestStrictJson:
    @pytest.mark.parametrize(
        "body", ['{"v": NaN}', '{"v": Infinity}', "[-Infinity]", b'{"v": "\xff"}', "{nope"]
    )
    def test_bodies_that_are_not_json_are_refused_as_json_errors(self, body):
        with pytest.raises(json.JSONDecodeError):
            strict_json(body)

    def test_json_bodies_parse_as_json_loads_does(self):
        text = '{"a": [1, 2.5, -3e2, true, null, "é"], "b": {}}'
        assert strict_json(text) == json.loads(text) == strict_json(text.encode())


@pytest.mark.parametrize(
    ("literal", "read"),
    [
        ("1.7976931348623157e308", True),
        ("1.7976931348623159e308", False),
        ("-1e308", True),
        ("-1e309", False),
    ],
)
def test_numbers_up_to_a_doubles_range_are_read_and_beyond_it_refused(literal, read):
    if read:
        assert strict_json(literal) == float(literal)
    else:
        with pytest.raises(json.JSONDecodeError, match="out of a double's range"):
            strict_json(literal)


@pytest.mark.parametrize(("digits", "read"), [(4300, True), (4301, False)])
def test_integers_of_up_to_4300_digits_are_read_and_longer_refused(digits, read):
    literal = "9" * digits
    if read:
        assert strict_json(literal) == int(literal)
    else:
        with pytest.raises(json.JSONDecodeError):
            strict_json(literal)


class TestForms:
    def test_an_urlencoded_form_is_the_json_object_of_its_fields(self):
        text = json_text(b"email=a%40b.example&consent=on&fields%5Bplan%5D=pro&blank=", FORM)
        assert json.loads(text) == {
            "email": "a@b.example",
            "consent": "on",
            "fields": {"plan": "pro"},
            "blank": "",
        }

    def test_a_multipart_form_is_its_text_fields_not_its_files(self):
        body = (
            b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\ntok\r\n'
            b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nfile\r\n--b--\r\n'
        )
        assert json.loads(json_text(body, f"{MULTIPART}; boundary=b")) == {"token": "tok"}

    def test_the_last_of_repeated_names_wins(self):
        assert json.loads(json_text(b"a=1&a=2", FORM)) == {"a": "2"}

    @pytest.mark.parametrize("body", [b"a=1&a%5Bb%5D=2", b"a%5Bb%5D=2&a=1"])
    def test_a_name_that_is_both_a_field_and_a_group_is_400_invalid_form(self, body):
        with pytest.raises(MalformedRequest) as refused:
            json_text(body, FORM)
        assert refused.value.code == "invalid_form"

    def test_a_multipart_body_without_parts_is_400_invalid_form(self):
        with pytest.raises(MalformedRequest) as refused:
            json_text(b"just text", f"{MULTIPART}; boundary=b")
        assert refused.value.code == "invalid_form"

    @pytest.mark.parametrize("content_type", [JSON, f"{TEXT}; charset=utf-8", ""])
    def test_json_and_beacon_text_are_passed_as_they_are(self, content_type):
        assert json_text(b'{ "events" : [] }', content_type) == '{ "events" : [] }'


class TestReadableDocument:
    def test_a_form_is_its_fields_without_blank_ones(self):
        assert readable_document(b"propertyId=docs-site&email=", FORM) == {"propertyId": "docs-site"}

    def test_anything_else_is_read_as_json(self):
        assert readable_document(b'{"propertyId": "default"}', TEXT) == {"propertyId": "default"}

    @pytest.mark.parametrize(
        ("body", "kind"), [(b"{nope", JSON), (b"\xff", FORM), (b"[" * 33 + b"]" * 33, JSON)]
    )
    def test_what_cannot_be_read_is_none(self, body, kind):
        assert readable_document(body, kind) is None


def _multipart(count: int) -> tuple[bytes, str]:
    parts = "".join(f'--b\r\nContent-Disposition: form-data; name="f{n}"\r\n\r\nv\r\n' for n in range(count))
    return f"{parts}--b--\r\n".encode(), "multipart/form-data; boundary=b"


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_a_form_of_200_fields_is_read_and_201_is_refused(kind):
    def read(count: int) -> list[tuple[str, str]]:
        if kind == "urlencoded":
            return urlencoded_pairs("&".join(f"f{n}=v" for n in range(count)).encode())
        return multipart_pairs(*_multipart(count))

    assert MAX_FORM_FIELDS == 200
    assert len(read(200)) == 200
    with pytest.raises(MalformedRequest) as refused:
        read(201)
    assert refused.value.code == "invalid_form"
