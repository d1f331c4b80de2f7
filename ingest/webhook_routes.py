"""POST /v1/webhooks/{source}: signed order notifications into order events.

It answers, in the order it checks:

- 404 a source the sources file does not name;
- 413 a body over 1 MiB;
- 401 ``missing_signature``, ``bad_signature`` or ``stale_timestamp`` (the signed time is
  more than OCOP_WEBHOOK_TOLERANCE_S away);
- 400 a body that is not a notification of the source's mapping;
- 200 ``{"duplicate": true}`` for a notification already produced within twice the
  tolerance (a replay, or the platform redelivering one it did not see answered): 2xx so
  a platform stops redelivering, and nothing is produced again;
- 200 ``{"accepted": 0, "ignored": …}`` for a notification that sets no order status;
- 422 a status without mapping, a shop without session, or a mapped event the contract
  refuses (``errors`` as /v1/events gives them);
- 502 an order detail that cannot count: another shape than documented, no line items of
  the order, a price not in whole VND;
- 503 the order-detail endpoint or Kafka unavailable (Retry-After): nothing was produced;
- 202 ``{"accepted": n}`` once Kafka acknowledged the notification's n events.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from aiohttp import web
from redis.exceptions import RedisError

from common.settings import Settings
from ingest import metrics
from ingest.events import MAX_BODY_BYTES, BadBody, check_events, decoders, envelopes
from ingest.producer import Delivery, Unavailable
from ingest.tiktok_shop import (
    AmountLookup,
    BadDetail,
    BadNotification,
    LookupUnavailable,
    order_events,
    order_status,
    parse_notification,
)
from ingest.webhooks import SIGNATURE_HEADER, BadSignature, Source, verify
from store.client import RedisClient
from store.keys import Keys

WEBHOOKS_PATH = "/v1/webhooks/{source}"
_RETRY_S = "1"


def _answer(status: int, body: dict[str, Any], *, retry: bool = False) -> web.Response:
    return web.json_response(body, status=status,
                             headers={"Retry-After": _RETRY_S} if retry else {})


class Webhooks:
    """The webhook handler, over the configured sources and an amount lookup."""

    def __init__(self, settings: Settings, redis: RedisClient, delivery: Delivery,
                 sources: dict[str, Source], lookup: AmountLookup) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.delivery = delivery
        self.sources = sources
        self.lookup = lookup
        self.decoders = decoders(settings.max_message_bytes)

    def routes(self) -> list[web.RouteDef]:
        """The route to add to the application."""
        return [web.post(WEBHOOKS_PATH, self.post_webhook)]

    async def post_webhook(self, request: web.Request) -> web.Response:
        """Take one notification (see the module docstring for every answer)."""
        name = request.match_info["source"]
        source = self.sources.get(name)
        if source is None:
            return _answer(404, {"error": "unknown_source",
                                 "detail": f"no webhook source {name!r} in "
                                           f"OCOP_WEBHOOK_SOURCES"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, {"error": "too_large",
                                 "detail": f"body over {MAX_BODY_BYTES} bytes"})
        try:
            verify(request.headers.get(SIGNATURE_HEADER), body, source.secret,
                   now_s=time.time(), tolerance_s=self.settings.webhook_tolerance_s)
            return await self._take(name, source, body)
        except BadSignature as exc:
            return _answer(401, {"error": exc.error, "detail": str(exc)})
        except RedisError as exc:
            return _answer(503, {"error": "store_unavailable", "detail": str(exc)}, retry=True)

    async def _take(self, name: str, source: Source, body: bytes) -> web.Response:
        try:
            notification = parse_notification(body)
        except BadNotification as exc:
            return _answer(400, {"error": "bad_body", "detail": str(exc)})
        seen = self.keys.webhook_seen(name, notification.tts_notification_id)
        if await self.redis.exists(seen):
            return _answer(200, {"duplicate": True, "accepted": 0})
        try:
            status = order_status(notification)
        except BadNotification as exc:
            return _answer(422, {"error": "unmapped_status", "detail": str(exc)})
        if status is None:
            return _answer(200, {"accepted": 0,
                                 "ignored": f"notification type {notification.type} sets "
                                            f"no order status"})
        session_id = source.sessions.get(notification.shop_id)
        if session_id is None:
            return _answer(422, {"error": "unknown_shop",
                                 "detail": f"shop {notification.shop_id!r} has no session in "
                                           f"source {name!r}'s sessions"})
        try:
            items = await self.lookup.line_items(source, notification.data.order_id)
        except LookupUnavailable as exc:
            return _answer(503, {"error": "amount_lookup_unavailable", "detail": str(exc)},
                           retry=True)
        except BadDetail as exc:
            return _answer(502, {"error": "bad_order_detail", "detail": str(exc)})
        return await self._produce(notification.tts_notification_id, seen, [
            msgspec.json.encode(event)
            for event in order_events(notification, status, items, session_id=session_id)])

    async def _produce(self, notification_id: str, seen: str,
                       elements: list[bytes]) -> web.Response:
        try:
            checked = check_events(elements, self.decoders)
        except BadBody as exc:
            return _answer(422, {"error": "unmappable", "detail": str(exc)})
        if checked.problems:
            return _answer(422, {"error": "unmappable",
                                 "detail": f"notification {notification_id!r} maps to events "
                                           f"the contract refuses",
                                 "errors": [p.as_json() for p in checked.problems]})
        records = envelopes(checked.valid, views_topic=self.settings.views_topic,
                            orders_topic=self.settings.orders_topic)
        try:
            await self.delivery.send(records)
        except Unavailable as exc:
            return _answer(503, {"error": "kafka_unavailable", "detail": str(exc)}, retry=True)
        # Marked only once Kafka has it: a notification answered 503 may come again.
        await self.redis.set(seen, b"1", ex=2 * self.settings.webhook_tolerance_s)
        metrics.EVENTS_ACCEPTED.inc(len(checked.valid))
        return _answer(202, {"accepted": len(checked.valid)})
