"""HTTP responses of the web process (pages, JSON, refusals before a websocket upgrade)."""

from __future__ import annotations

import http
import json
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response


def response(status: int, body: bytes, content_type: str, **extra: str) -> Response:
    """A complete HTTP response that no cache keeps."""
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body)),
                       "Cache-Control": "no-store", **extra})
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def json_response(status: int, payload: Any, **extra: str) -> Response:
    """A JSON HTTP response."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return response(status, body, "application/json; charset=utf-8", **extra)
