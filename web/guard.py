"""Who may open a websocket here: allowed origins and a per-process connection cap.

Both are answered with a plain HTTP response before the upgrade, so a refused client
costs one request and never holds a socket slot.
"""

from __future__ import annotations

from collections.abc import Iterable

from websockets.http11 import Request, Response

from web.responses import json_response

_LOOPBACK = ("127.0.0.1", "localhost")
_WILDCARD = ("0.0.0.0", "::", "")  # noqa: S104  (names a bind address, binds nothing)
ANY_ORIGIN = "*"


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


class Guard:
    """Admits websocket upgrades from allowed origins while the process has room.

    A request without ``Origin`` is not from a browser page (monitoring, a script) and
    is admitted; a page from this very server (``Origin`` equal to the ``Host`` it asked
    for) is admitted whatever name it was reached by; ``*`` admits every origin.

    Usage::

        guard = Guard(allowed_origins=default_origins("127.0.0.1", 8080), max_connections=500)
        refusal = guard.refuse(request, open_connections=12)  # None lets the upgrade go on
    """

    def __init__(self, *, allowed_origins: Iterable[str], max_connections: int) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self.allowed = frozenset(_normal(origin) for origin in allowed_origins)
        self.max_connections = max_connections

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

    def refuse(self, request: Request, *, open_connections: int) -> Response | None:
        """403 for a foreign origin, 503 when full, None to let the upgrade go on."""
        if not self.origin_allowed(request):
            return json_response(403, {"error": "origin_not_allowed"})
        if open_connections >= self.max_connections:
            return json_response(503, {"error": "too_many_connections"}, **{"Retry-After": "5"})
        return None
