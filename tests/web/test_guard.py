"""Which websocket upgrades are admitted: origins and the connection cap (pure)."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from web.guard import Guard, default_origins, parse_origins


def _request(origin: str | None, host: str = "board.example:8080") -> Request:
    headers = Headers({"Host": host})
    if origin is not None:
        headers["Origin"] = origin
    return Request("/ws/board", headers)


@pytest.mark.parametrize(("host", "port", "expected"), [
    ("127.0.0.1", 8080, ("http://127.0.0.1:8080", "http://localhost:8080")),
    ("0.0.0.0", 80, ("http://0.0.0.0:80", "http://127.0.0.1:80",  # noqa: S104
                     "http://localhost:80")),
    ("board.example", 8080, ("http://board.example:8080",)),
])
def test_default_origins(host: str, port: int, expected: tuple[str, ...]) -> None:
    assert default_origins(host, port) == expected


def test_parse_origins() -> None:
    assert parse_origins("") == ()
    assert parse_origins(" https://Board.Example/ , http://kiosk:8080,") == (
        "https://board.example", "http://kiosk:8080")


@pytest.mark.parametrize(("origin", "allowed", "status"), [
    ("http://kiosk:8080", ["http://kiosk:8080"], None),
    ("http://KIOSK:8080/", ["http://kiosk:8080"], None),
    (None, ["http://kiosk:8080"], None),  # not a browser page
    ("http://board.example:8080", [], None),  # a page of this very server
    ("https://board.example:8080", [], None),
    ("http://evil.example", ["http://kiosk:8080"], 403),
    ("http://board.example:9999", [], 403),
    ("null", ["http://kiosk:8080"], 403),  # sandboxed or file:// pages
    ("http://evil.example", ["*"], None),
])
def test_origins(origin: str | None, allowed: list[str], status: int | None) -> None:
    guard = Guard(allowed_origins=allowed, max_connections=10)
    refusal = guard.refuse(_request(origin), open_connections=0)
    assert (refusal.status_code if refusal else None) == status


def test_cap() -> None:
    guard = Guard(allowed_origins=[], max_connections=2)
    assert guard.refuse(_request(None), open_connections=1) is None
    refusal = guard.refuse(_request(None), open_connections=2)
    assert refusal is not None and refusal.status_code == 503
    assert refusal.headers["Retry-After"] == "5"
    with pytest.raises(ValueError, match="at least 1"):
        Guard(allowed_origins=[], max_connections=0)
