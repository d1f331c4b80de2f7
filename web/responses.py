"""HTTP responses of the web process (pages, JSON, refusals before a websocket upgrade)."""

from __future__ import annotations

import http
import json
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

JSON_TYPE = "application/json; charset=utf-8"


def response(status: int, body: bytes, content_type: str, **extra: str) -> Response:
    """A complete HTTP response that no cache keeps."""
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body)),
                       "Cache-Control": "no-store", **extra})
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def json_body(payload: Any) -> bytes:
    """``payload`` as the compact UTF-8 JSON every response carries."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(status: int, payload: Any, **extra: str) -> Response:
    """A JSON HTTP response."""
    return response(status, json_body(payload), JSON_TYPE, **extra)
