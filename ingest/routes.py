"""The gateway's HTTP routes: POST /v1/events, /healthz and /metrics.

``POST /v1/events`` answers, in the order it checks:

- 401 no key or an unknown key; 415 a content type other than JSON or NDJSON;
- 413 over 1 MiB (from Content-Length, before reading) or over 500 events;
- 400 a body with no events in it; 429 past the key's rate (Retry-After);
- 403 an event of a session the key may not write (the first such session and index);
- 503 Kafka unreachable or not acknowledging (Retry-After): nothing of it counts as
  acknowledged, and a retry is safe;
- 202 ``{"accepted": n, "rejected": m, "errors": [{index, field, reason, detail}]}``
  once Kafka acknowledged every valid event.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from common.settings import Settings
from ingest import metrics
from ingest.events import (
    MAX_BODY_BYTES,
    MAX_EVENTS,
    BadBody,
    check_events,
    decoders,
    envelopes,
    split_body,
)
from ingest.keys import Grant, KeyStore
from ingest.limits import RateLimits
from ingest.producer import Delivery, Unavailable
from store.client import RedisClient
from store.keys import Keys

EVENTS_PATH = "/v1/events"
_TYPES = {"application/json": False, "application/x-ndjson": True}
# A client told Kafka or Redis is away waits this long before retrying.
_UNAVAILABLE_RETRY_S = 1


def _answer(status: int, body: dict[str, Any], *, retry_after_s: float | None = None
            ) -> web.Response:
    headers = {} if retry_after_s is None else {
        "Retry-After": str(max(1, math.ceil(retry_after_s)))}
    return web.json_response(body, status=status, headers=headers)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class Gateway:
    """The handlers, over one Redis client, one producer and the per-key buckets."""

    def __init__(self, settings: Settings, redis: RedisClient, delivery: Delivery) -> None:
        self.settings = settings
        self.redis = redis
        self.store = KeyStore(redis, Keys(settings.key_prefix))
        self.delivery = delivery
        self.limits = RateLimits(rate=settings.ingest_key_rate, floor=MAX_EVENTS)
        self.decoders = decoders(settings.max_message_bytes)

    def routes(self) -> list[web.RouteDef]:
        """The routes to add to the application."""
        return [web.post(EVENTS_PATH, self.post_events), web.get("/healthz", self.healthz),
                web.get("/metrics", self.metrics)]

    async def _grant(self, request: web.Request) -> Grant | web.Response:
        key = _bearer(request)
        if key is None:
            return _answer(401, {"error": "missing_key",
                                 "detail": "send the key as Authorization: Bearer <key>"})
        grant = await self.store.lookup(key)
        if grant is None:
            return _answer(401, {"error": "unknown_key",
                                 "detail": "the key is unknown or was revoked"})
        return grant

    async def post_events(self, request: web.Request) -> web.Response:
        """Take a batch of events (see the module docstring for every answer)."""
        try:
            grant = await self._grant(request)
            if isinstance(grant, web.Response):
                return grant
            return await self._post(request, grant)
        except RedisError as exc:
            return _answer(503, {"error": "store_unavailable", "detail": str(exc)},
                           retry_after_s=_UNAVAILABLE_RETRY_S)

    async def _post(self, request: web.Request, grant: Grant) -> web.Response:
        if request.content_type not in _TYPES:
            return _answer(415, {"error": "unsupported_content_type",
                                 "detail": f"Content-Type {request.content_type!r}; send "
                                           f"application/json or application/x-ndjson"})
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return _too_large(f"Content-Length {length} > {MAX_BODY_BYTES} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(f"body over {MAX_BODY_BYTES} bytes")
        try:
            elements = split_body(body, ndjson=_TYPES[request.content_type])
        except BadBody as exc:
            return _answer(400, {"error": "bad_body", "detail": str(exc)})
        if len(elements) > MAX_EVENTS:
            return _too_large(f"{len(elements)} events > {MAX_EVENTS} a request")
        wait_s = self.limits.take(grant.name, len(elements))
        if wait_s:
            return _answer(429, {"error": "rate_limited",
                                 "detail": f"key {grant.name!r} may post "
                                           f"{self.settings.ingest_key_rate:g} events/s"},
                           retry_after_s=wait_s)
        try:
            checked = check_events(elements, self.decoders)
        except BadBody as exc:
            return _answer(400, {"error": "bad_body", "detail": str(exc)})
        forbidden = set(await self.store.forbidden(grant, (e.session_id for e in checked.valid)))
        if forbidden:
            first = next(e for e in checked.valid if e.session_id in forbidden)
            return _answer(403, {"error": "session_not_allowed", "index": first.index,
                                 "session_id": first.session_id,
                                 "detail": f"key {grant.name!r} may not write session "
                                           f"{first.session_id!r} (event {first.index})"})
        records = envelopes(checked.valid, views_topic=self.settings.views_topic,
                            orders_topic=self.settings.orders_topic)
        try:
            await self.delivery.send(records)
        except Unavailable as exc:
            return _answer(503, {"error": "kafka_unavailable", "detail": str(exc)},
                           retry_after_s=_UNAVAILABLE_RETRY_S)
        metrics.EVENTS_ACCEPTED.inc(len(checked.valid))
        for problem in checked.problems:
            metrics.EVENTS_REJECTED.labels(problem.reason.value).inc()
        return _answer(202, {"accepted": len(checked.valid), "rejected": len(checked.problems),
                             "errors": [p.as_json() for p in checked.problems]})

    async def healthz(self, request: web.Request) -> web.Response:
        """200 while Kafka and Redis answer; 503 naming the one that does not."""
        if not await self.delivery.healthy():
            return _answer(503, {"status": "kafka_unreachable", "role": "ingest"})
        try:
            await self.redis.ping()
        except RedisError:
            return _answer(503, {"status": "redis_unreachable", "role": "ingest"})
        return _answer(200, {"status": "ok", "role": "ingest"})

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text format."""
        return web.Response(body=generate_latest(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})


def _too_large(detail: str) -> web.Response:
    return _answer(413, {"error": "too_large", "detail": detail})


@web.middleware
async def count_requests(request: web.Request, handler: Any) -> web.StreamResponse:
    """Count every answer by route and status (unknown paths as ``other``)."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "other"
    try:
        answer: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        metrics.REQUESTS.labels(route, str(exc.status)).inc()
        raise
    metrics.REQUESTS.labels(route, str(answer.status)).inc()
    return answer
