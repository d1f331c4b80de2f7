"""Webhook sources and their signatures: who may POST /v1/webhooks/{source}, and proof of it.

Sources live in the TOML file OCOP_WEBHOOK_SOURCES names, secrets included: an HMAC is
checked with the secret itself, so it cannot be stored hashed like an ingest key. Keep
the file readable by the gateway only (README, "Webhooks")::

    [sources.tts-vn]
    mapping = "tiktok-shop"
    secret = "…at least 16 characters…"
    amount_url = "http://order-relay:8000/order/202309/orders?ids={order_id}"
    amount_headers = { Authorization = "Bearer …" }     # optional
    sessions = { "7494049642642441621" = "cp-01" }      # shop id -> session

A request is signed as TikTok's developer webhooks document it: the header
``TikTok-Signature: t=<unix seconds>,s=<hex HMAC-SHA256(secret, "<t>." + raw body)>``.
The timestamp is inside the signed payload, so a replay cannot freshen it.

Usage::

    sources = load_sources(settings.webhook_sources)
    at_s = verify(request.headers.get(SIGNATURE_HEADER), body, source.secret,
                  now_s=time.time(), tolerance_s=300)     # or raises BadSignature
"""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from typing import Annotated, Literal

import msgspec

SIGNATURE_HEADER = "TikTok-Signature"


class SourceError(ValueError):
    """The sources file cannot be read or does not describe sources."""


class Source(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One webhook sender: its secret, body mapping and order-detail endpoint."""

    mapping: Literal["tiktok-shop"]
    secret: Annotated[str, msgspec.Meta(min_length=16)]
    # ``{order_id}`` in it becomes the notification's order id.
    amount_url: str
    amount_headers: dict[str, str] = {}
    sessions: dict[str, str] = {}


class _File(msgspec.Struct, forbid_unknown_fields=True):
    sources: dict[str, Source] = {}


def load_sources(path: str) -> dict[str, Source]:
    """The sources of the file at ``path``; none for an empty path."""
    if not path:
        return {}
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
        sources = msgspec.convert(raw, _File).sources
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise SourceError(f"webhook sources file {path!r} (OCOP_WEBHOOK_SOURCES): {exc}") from exc
    for name, source in sources.items():
        if "{order_id}" not in source.amount_url:
            raise SourceError(f"webhook source {name!r} in {path!r}: amount_url "
                              f"{source.amount_url!r} has no {{order_id}}")
    return sources


class BadSignature(ValueError):
    """A request whose signature is missing, wrong or too old; ``error`` is the answer's."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error


def _mac(secret: str, at_s: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{at_s}.".encode() + body,
                    hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, at_s: int) -> str:
    """The signature header value a sender puts on ``body`` at ``at_s``."""
    return f"t={at_s},s={_mac(secret, at_s, body)}"


def verify(header: str | None, body: bytes, secret: str, *, now_s: float,
           tolerance_s: int) -> int:
    """The signed timestamp of ``body``, once its signature and age are right."""
    if not header:
        raise BadSignature("missing_signature", f"send the {SIGNATURE_HEADER} header")
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    at, given = parts.get("t", ""), parts.get("s", "")
    if not at.isdigit() or not given:
        raise BadSignature("bad_signature", f"{SIGNATURE_HEADER} {header[:80]!r} is not "
                                            f"t=<unix seconds>,s=<hex HMAC-SHA256>")
    at_s = int(at)
    if not hmac.compare_digest(_mac(secret, at_s, body).encode(), given.lower().encode()):
        raise BadSignature("bad_signature", "the signature does not match the body")
    if abs(now_s - at_s) > tolerance_s:
        raise BadSignature("stale_timestamp", f"t={at_s} is more than {tolerance_s} s from "
                                              f"the gateway's clock")
    return at_s
