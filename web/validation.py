"""What a client may put in a request line and headers, checked before any handler runs.

A duplicated ``Origin``, ``Host`` or ``Authorization`` header is ambiguous (which one did
the origin check or the token check read?), and websockets raises on reading one; a
resume ``seq`` must be plain ASCII digits, because ``int()`` and ``str.isdigit()`` also
take digits of other scripts ("²", "٣"); a ``fair`` must be a catalog id. Each answers
400 naming the header or parameter, never a 500 with a traceback. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import msgspec
from websockets.datastructures import Headers

from common.catalog import Id

SINGLE_HEADERS = ("Origin", "Host", "Authorization")
# 18 digits stay below 2**63 and far below int()'s 4300-digit limit, which raises.
_SEQ = re.compile(r"[0-9]{1,18}")
_RESUME_PARAMETERS = ("epoch", "seq")
FAIR_PARAMETER = "fair"
# How much of a refused fair id a 400 body quotes.
_QUOTED = 80


class BadRequest(ValueError):
    """A request refused with 400; ``body`` names the header or parameter at fault.

    The message may quote the value, the body never does: a duplicated
    ``Authorization`` header or a ``token`` parameter carries a secret.
    """

    def __init__(self, message: str, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.body = body


def check_single_headers(headers: Headers) -> None:
    """Raise ``BadRequest`` when a header that must appear at most once appears twice."""
    for name in SINGLE_HEADERS:
        count = len(headers.get_all(name))
        if count > 1:
            raise BadRequest(f"header {name} sent {count} times",
                             {"error": "duplicate_header", "header": name})


def forbid_token_in_query(query: str) -> None:
    """Raise ``BadRequest`` for a ``token`` query parameter: tokens never ride in a URL.

    Host tokens travel in the page's URL fragment, the socket's first message or an
    ``Authorization`` header; a URL lands in access logs and proxies.
    """
    if "token" in parse_qs(query, keep_blank_values=True):
        raise BadRequest("query parameter token: host tokens are not accepted in a URL",
                         {"error": "token_in_url", "parameter": "token"})


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a reconnecting screen left off: the epoch and seq it saw last (None: fresh)."""

    epoch: str | None = None
    seq: int | None = None


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise BadRequest(f"query parameter {name} given {len(values)} times",
                         {"error": "duplicate_parameter", "parameter": name})
    return values[0]


def parse_resume(query: str) -> Resume:
    """``epoch`` and ``seq`` from a board socket's query string; ``BadRequest`` if malformed."""
    parsed = parse_qs(query, keep_blank_values=True)
    epoch, seq_text = (_single(parsed, name) for name in _RESUME_PARAMETERS)
    seq = None
    if seq_text is not None:
        if _SEQ.fullmatch(seq_text) is None:
            raise BadRequest(f"query parameter seq={seq_text[:40]!r}: expected 1 to 18 "
                             "ASCII digits",
                             {"error": "bad_parameter", "parameter": "seq",
                              "expected": "1 to 18 ASCII digits"})
        seq = int(seq_text)
    return Resume(epoch=epoch, seq=seq)


def parse_fair(query: str) -> str | None:
    """``fair`` from a board's or API's query string (None: the default fair).

    ``BadRequest`` naming the value when it is not a catalog id (the pattern every fair
    and session id follows), before anything is looked up.
    """
    value = _single(parse_qs(query, keep_blank_values=True), FAIR_PARAMETER)
    if value is None:
        return None
    try:
        return msgspec.convert(value, type=Id)
    except msgspec.ValidationError:
        raise BadRequest(f"query parameter fair={value[:_QUOTED]!r}: not a fair id",
                         {"error": "bad_fair", "parameter": FAIR_PARAMETER,
                          "fair": value[:_QUOTED]}) from None


SCREEN_PARAMETER = "screen"


def parse_screen(query: str, names: tuple[str, ...]) -> str | None:
    """``screen`` from a board's query string (None: an unnamed screen).

    ``BadRequest`` naming the value and the configured names (``OCOP_SCREENS``) when it
    is not one of ``names``: each name is a metric label, so only configured ones count.
    """
    value = _single(parse_qs(query, keep_blank_values=True), SCREEN_PARAMETER)
    if value is None:
        return None
    if value not in names:
        raise BadRequest(f"query parameter screen={value[:_QUOTED]!r}: not a configured "
                         f"screen (OCOP_SCREENS: {', '.join(names) or 'none'})",
                         {"error": "unknown_screen", "parameter": SCREEN_PARAMETER,
                          "screen": value[:_QUOTED], "screens": list(names)})
    return value
