"""Request checks before any handler: single-valued headers and the resume query (pure)."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers

from web.validation import (
    BadRequest,
    Resume,
    check_single_headers,
    forbid_token_in_query,
    parse_resume,
)


@pytest.mark.parametrize("name", ["Origin", "Host", "Authorization", "authorization"])
def test_a_duplicated_header_is_refused_by_name(name: str) -> None:
    headers = Headers([("Cookie", "a=1"), (name, "a"), (name, "b")])
    with pytest.raises(BadRequest) as refused:
        check_single_headers(headers)
    canonical = name.title()
    assert refused.value.body == {"error": "duplicate_header", "header": canonical}
    assert str(refused.value) == f"header {canonical} sent 2 times"


def test_a_duplicated_authorization_header_never_echoes_the_token() -> None:
    headers = Headers([("Authorization", "Bearer secret-1"), ("Authorization", "Bearer s2")])
    with pytest.raises(BadRequest) as refused:
        check_single_headers(headers)
    assert "secret" not in str(refused.value) and "secret" not in str(refused.value.body)


def test_single_headers_and_repeatable_ones_pass() -> None:
    check_single_headers(Headers([("Host", "h"), ("Origin", "http://h"),
                                  ("Authorization", "Bearer t"), ("Cookie", "a=1"),
                                  ("Cookie", "b=2")]))
    check_single_headers(Headers())


@pytest.mark.parametrize(("query", "resume"), [
    ("", Resume()),
    ("epoch=abc", Resume(epoch="abc")),
    ("epoch=abc&seq=0", Resume(epoch="abc", seq=0)),
    ("seq=42", Resume(seq=42)),
    ("epoch=abc&seq=000123", Resume(epoch="abc", seq=123)),
    ("seq=999999999999999999", Resume(seq=999_999_999_999_999_999)),
    ("lang=en", Resume()),
])
def test_resume_query(query: str, resume: Resume) -> None:
    assert parse_resume(query) == resume


@pytest.mark.parametrize("seq", [
    "%C2%B2",             # "²": str.isdigit() says yes, int() says no
    "\u00b2",
    "%D9%A3",             # "٣", Arabic-Indic three: int() would take it as 3
    "%EF%BC%97",          # U+FF17, fullwidth seven
    "",
    "-1",
    "+1",
    " 1",
    "1.0",
    "0x10",
    "1_000",
    "abc",
    "1" * 19,             # past 18 digits (and int()'s 4300-digit limit far beyond)
    "1" * 5000,
])
def test_a_seq_that_is_not_ascii_digits_is_refused(seq: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_resume(f"epoch=abc&seq={seq}")
    assert refused.value.body == {"error": "bad_parameter", "parameter": "seq",
                                  "expected": "1 to 18 ASCII digits"}
    assert str(refused.value).startswith("query parameter seq=")
    assert len(str(refused.value)) < 120


@pytest.mark.parametrize("name", ["epoch", "seq"])
def test_a_repeated_resume_parameter_is_refused(name: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_resume(f"epoch=a&seq=1&{name}=2")
    assert refused.value.body == {"error": "duplicate_parameter", "parameter": name}


@pytest.mark.parametrize("query", ["token=abc", "session=cp-1&token=", "token"])
def test_a_token_in_the_query_is_refused_without_echoing_it(query: str) -> None:
    with pytest.raises(BadRequest) as refused:
        forbid_token_in_query(query)
    assert refused.value.body == {"error": "token_in_url", "parameter": "token"}
    assert "abc" not in str(refused.value)


def test_queries_without_a_token_pass() -> None:
    forbid_token_in_query("")
    forbid_token_in_query("session=cp-1&lang=en&tokens=1")
