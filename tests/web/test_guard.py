"""Which websocket upgrades are admitted: origins, page caps, address cap (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from web.guard import Guard, client_key, default_origins, parse_origins


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
    guard = _guard(allowed=allowed)
    refusal = guard.admit(_request(origin), page="board", address="10.0.0.1")
    assert (refusal.status_code if refusal else None) == status
    # Only an admitted upgrade holds a slot.
    assert guard.open["board"] == (1 if status is None else 0)


def _guard(*, allowed: list[str] | None = None, board: int = 10, host: int = 10,
           per_address: int = 10) -> Guard:
    return Guard(allowed_origins=allowed or [], max_board_connections=board,
                 max_host_connections=host, max_connections_per_address=per_address)


def _body(response: Response | None) -> dict[str, Any]:
    assert response is not None
    return json.loads(response.body)  # type: ignore[no-any-return]


def test_board_and_host_pages_have_their_own_caps() -> None:
    guard = _guard(board=2, host=1)
    for n in range(2):
        assert guard.admit(_request(None), page="board", address=f"10.0.0.{n}") is None
    assert guard.admit(_request(None), page="host", address="10.0.0.9") is None
    full = guard.admit(_request(None), page="board", address="10.0.0.3")
    assert full is not None and full.status_code == 503
    assert full.headers["Retry-After"] == "5"
    assert _body(full) == {"error": "too_many_connections",
                           "cap": "OCOP_WEB_MAX_BOARD_CONNECTIONS", "limit": 2}
    hosts_full = guard.admit(_request(None), page="host", address="10.0.0.3")
    assert _body(hosts_full)["cap"] == "OCOP_WEB_MAX_HOST_CONNECTIONS"
    guard.release(page="board", address="10.0.0.0")
    assert guard.admit(_request(None), page="board", address="10.0.0.3") is None
    assert (guard.open["board"], guard.open["host"]) == (2, 1)


def test_one_address_is_capped_over_both_pages_and_loopback_too() -> None:
    guard = _guard(per_address=2)
    assert guard.admit(_request(None), page="board", address="127.0.0.1") is None
    assert guard.admit(_request(None), page="host", address="127.0.0.1") is None
    refused = guard.admit(_request(None), page="board", address="127.0.0.1")
    assert refused is not None and refused.status_code == 429
    assert refused.headers["Retry-After"] == "5"
    assert _body(refused) == {"error": "too_many_connections_from_address",
                              "cap": "OCOP_WEB_MAX_CONNECTIONS_PER_ADDRESS", "limit": 2}
    assert guard.admit(_request(None), page="board", address="10.0.0.1") is None
    guard.release(page="host", address="127.0.0.1")
    assert guard.admit(_request(None), page="board", address="127.0.0.1") is None
    for _ in range(2):
        guard.release(page="board", address="127.0.0.1")
    assert "127.0.0.1" not in guard.by_address  # addresses with no socket are forgotten


@pytest.mark.parametrize("name", ["max_board_connections", "max_host_connections",
                                  "max_connections_per_address"])
def test_caps_must_be_positive(name: str) -> None:
    caps = {"max_board_connections": 1, "max_host_connections": 1,
            "max_connections_per_address": 1, name: 0}
    with pytest.raises(ValueError, match=f"{name} must be at least 1, got 0"):
        Guard(allowed_origins=[], **caps)


@pytest.mark.parametrize(("peername", "key"), [
    (("10.1.2.3", 50000), "10.1.2.3"),
    (("::ffff:10.1.2.3", 50000, 0, 0), "10.1.2.3"),
    (("2001:db8:1:2:aaaa::1", 50000, 0, 0), "2001:db8:1:2::/64"),
    (("2001:db8:1:2:bbbb::9", 50001, 0, 0), "2001:db8:1:2::/64"),
    (("fe80::1%eth0", 50000, 0, 2), "fe80::/64"),
    ("/run/ocop.sock", "/run/ocop.sock"),
    (None, ""),
])
def test_client_key(peername: object, key: str) -> None:
    assert client_key(peername) == key
