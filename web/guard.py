"""Who may open a websocket here: allowed origins, per-page caps and a per-address cap.

Every refusal is a plain HTTP response before the upgrade, so a refused client costs one
request and never holds a socket slot. The guard counts the sockets it admitted until
the server tells it each one ended (pure: no I/O, the caller passes the client address).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from websockets.http11 import Request, Response

from web.responses import json_response

Page = Literal["board", "host"]

_LOOPBACK = ("127.0.0.1", "localhost")
_WILDCARD = ("0.0.0.0", "::", "")  # noqa: S104  (names a bind address, binds nothing)
ANY_ORIGIN = "*"
# Long enough for the sockets of a screen that flapped to be let go, short enough that a
# venue screen refused at a busy moment is back within one of its reconnect backoffs.
RETRY_AFTER_S = 5
# The settings each cap comes from, named in refusals so whoever reads one knows the knob.
CAP_NAMES: dict[Page, str] = {"board": "OCOP_WEB_MAX_BOARD_CONNECTIONS",
                              "host": "OCOP_WEB_MAX_HOST_CONNECTIONS"}
PER_ADDRESS_CAP_NAME = "OCOP_WEB_MAX_CONNECTIONS_PER_ADDRESS"
# One IPv6 subscriber is handed a whole /64: counted by address, it would have 2**64.
_IPV6_CLIENT_PREFIX = 64


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def parse_origins(text: str) -> tuple[str, ...]:
    """Comma-separated origins (``OCOP_WEB_ALLOWED_ORIGINS``) → normalised tuple."""
    return tuple(_normal(part) for part in text.split(",") if part.strip())


def default_origins(host: str, port: int) -> tuple[str, ...]:
    """``http://host:port``, and the loopback names when bound to loopback or everything."""
    names = [host]
    if host in _LOOPBACK or host in _WILDCARD:
        names += _LOOPBACK
    return tuple(dict.fromkeys(_normal(f"http://{name}:{port}") for name in names if name))


def client_key(peername: Any) -> str:
    """The address a client is counted by: its IPv4 address, or its IPv6 /64.

    ``peername`` is what ``getpeername()`` gave (a ``(host, port, ...)`` tuple for IP);
    an IPv4-mapped IPv6 address counts as the IPv4 address it maps.
    """
    host = peername[0] if isinstance(peername, tuple) and peername else peername
    text = str(host or "")
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, _IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def _at_least_one(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


class Guard:
    """Admits websocket upgrades from allowed origins while the page and address have room.

    A request without ``Origin`` is not from a browser page (monitoring, a script) and
    is admitted; a page from this very server (``Origin`` equal to the ``Host`` it asked
    for) is admitted whatever name it was reached by; ``*`` admits every origin. Loopback
    addresses get no exemption from the per-address cap.

    Usage::

        guard = Guard(allowed_origins=default_origins("127.0.0.1", 8080),
                      max_board_connections=1000, max_host_connections=200,
                      max_connections_per_address=50)
        refusal = guard.admit(request, page="board", address="10.0.0.7")
        if refusal is None:   # admitted: the slot is held until release()
            ...
            guard.release(page="board", address="10.0.0.7")
    """

    def __init__(self, *, allowed_origins: Iterable[str], max_board_connections: int,
                 max_host_connections: int, max_connections_per_address: int) -> None:
        self.allowed = frozenset(_normal(origin) for origin in allowed_origins)
        self.caps: dict[Page, int] = {
            "board": _at_least_one("max_board_connections", max_board_connections),
            "host": _at_least_one("max_host_connections", max_host_connections),
        }
        self.max_per_address = _at_least_one("max_connections_per_address",
                                             max_connections_per_address)
        self.open: Counter[Page] = Counter()
        self.by_address: Counter[str] = Counter()

    def origin_allowed(self, request: Request) -> bool:
        """Whether the page that opens this socket may read from it."""
        origin = request.headers.get("Origin")
        if origin is None or ANY_ORIGIN in self.allowed:
            return True
        origin = _normal(origin)
        if origin in self.allowed:
            return True
        host = request.headers.get("Host")
        return host is not None and origin in {f"http://{host}".lower(), f"https://{host}".lower()}

    def admit(self, request: Request, *, page: Page, address: str) -> Response | None:
        """403 for a foreign origin, 429 when the address is full, 503 when the page is.

        None admits the upgrade and holds a slot of ``page`` and ``address`` until
        ``release``.
        """
        if not self.origin_allowed(request):
            return json_response(403, {"error": "origin_not_allowed"})
        retry = {"Retry-After": str(RETRY_AFTER_S)}
        # The address first: when one client fills the process, it is the one to hear so.
        if self.by_address[address] >= self.max_per_address:
            return json_response(429, {"error": "too_many_connections_from_address",
                                       "cap": PER_ADDRESS_CAP_NAME,
                                       "limit": self.max_per_address}, **retry)
        if self.open[page] >= self.caps[page]:
            return json_response(503, {"error": "too_many_connections", "cap": CAP_NAMES[page],
                                       "limit": self.caps[page]}, **retry)
        self.open[page] += 1
        self.by_address[address] += 1
        return None

    def release(self, *, page: Page, address: str) -> None:
        """Give back the slot an admitted upgrade held."""
        self.open[page] -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            # Addresses come and go all day; only the ones with open sockets stay counted.
            del self.by_address[address]
