"""Signed TikTok Shop notifications through the running gateway, against real Kafka and Redis,
with the order-detail endpoint served by a local HTTP server of the test in the documented
shape."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from common.settings import Settings
from consumers.topics import ensure_topics
from counting.contract import OrderEvent, Status
from devtools.stack.ports import pick_free_ports
from ingest.webhooks import SIGNATURE_HEADER, signature_header
from tests.ingest.client import Answer, cli, post_webhook, topic_events
from tests.processes import end_offsets, running

pytestmark = pytest.mark.integration

SECRET = "tts-secret-for-the-test-0123"  # noqa: S105  (the test's own)
SHOP = "7494049642642441621"
SESSION = "cp-01"


@dataclass
class OrderDetails:
    """The order-detail endpoint: ``GET /order/202309/orders?ids=<order id>``."""

    orders: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        order_id = request.query["ids"]
        self.asked.append(order_id)
        assert request.headers["x-tts-access-token"] == "relay-token"
        orders = [{"id": order_id, "status": "UNPAID", "line_items": self.orders[order_id]}]
        return web.json_response({"code": 0, "message": "Success",
                                  "request_id": "2026120112000001", "data": {"orders": orders}})


@pytest.fixture
async def details() -> AsyncIterator[tuple[OrderDetails, int]]:
    served = OrderDetails()
    app = web.Application()
    app.add_routes([web.get("/order/202309/orders", served.handle)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield served, port
    finally:
        await runner.cleanup()


def _sources(path: Path, details_port: int) -> Path:
    (closed,) = pick_free_ports(1)
    source = (f'mapping = "tiktok-shop"\nsecret = "{SECRET}"\n'
              f'amount_headers = {{ x-tts-access-token = "relay-token" }}\n'
              f'sessions = {{ "{SHOP}" = "{SESSION}" }}\n')
    path.write_text(
        f'[sources.tts]\n{source}'
        f'amount_url = "http://127.0.0.1:{details_port}/order/202309/orders?ids={{order_id}}"\n'
        # Nothing listens on this port: the order-detail endpoint is down.
        f'[sources.tts-down]\n{source}'
        f'amount_url = "http://127.0.0.1:{closed}/order/202309/orders?ids={{order_id}}"\n')
    return path


def _notification(notification_id: str, order_id: str, status: str,
                  shop: str = SHOP) -> bytes:
    now = int(time.time())
    return json.dumps({"type": 1, "tts_notification_id": notification_id, "shop_id": shop,
                       "timestamp": now, "data": {"order_id": order_id, "order_status": status,
                                                  "is_on_hold_order": False,
                                                  "update_time": now - 5}}).encode()


def _signed(body: bytes, *, at_s: int | None = None, secret: str = SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: signature_header(secret, body, at_s or int(time.time()))}


async def _send(settings: Settings, source: str, body: bytes,
                headers: dict[str, str]) -> Answer:
    # In a thread: this loop serves the order-detail endpoint meanwhile.
    return await asyncio.to_thread(post_webhook, settings, source, body, headers)


async def _orders(settings: Settings) -> list[tuple[bytes, OrderEvent]]:
    return [(key, e) for key, e in await topic_events(settings, "orders")
            if isinstance(e, OrderEvent)]


async def _gateway(make_settings: Callable[..., Settings], tmp_path: Path,
                   details_port: int) -> Settings:
    settings = make_settings(
        webhook_sources=str(_sources(tmp_path / "sources.toml", details_port)))
    await ensure_topics(settings)
    return settings


async def test_a_signed_notification_becomes_order_events_with_looked_up_amounts(
        make_settings: Callable[..., Settings], tmp_path: Path,
        details: tuple[OrderDetails, int]) -> None:
    served, port = details
    settings = await _gateway(make_settings, tmp_path, port)
    served.orders["5760"] = [
        {"id": "li1", "product_id": "p-mam-tom", "sku_id": "s1", "sale_price": "150000",
         "currency": "VND"},
        {"id": "li2", "product_id": "p-tra-sen", "sku_id": "s2", "sale_price": "85000",
         "currency": "VND"}]
    with running(settings, "ingest", tmp_path):
        placed = _notification("n-1", "5760", "UNPAID")
        answer = await _send(settings, "tts", placed, _signed(placed))
        assert (answer.status, answer.body) == (202, {"accepted": 2})
        assert served.asked == ["5760"]
        events = await _orders(settings)
        assert {key for key, _ in events} == {SESSION.encode()}
        assert [(e.event_id, e.order_id, e.session_id, e.product_id, e.amount_vnd, e.status)
                for _, e in events] == [
            ("n-1:li1", "5760:li1", SESSION, "p-mam-tom", 150_000, Status.PLACED),
            ("n-1:li2", "5760:li2", SESSION, "p-tra-sen", 85_000, Status.PLACED)]

        # The same signed request again, or the platform redelivering it: nothing new.
        again = await _send(settings, "tts", placed, _signed(placed))
        assert (again.status, again.body["duplicate"]) == (200, True)
        assert len(await _orders(settings)) == 2

        cancelled = _notification("n-2", "5760", "CANCELLED")
        answer = await _send(settings, "tts", cancelled, _signed(cancelled))
        assert (answer.status, answer.body) == (202, {"accepted": 2})
        statuses = [(e.order_id, e.status) for _, e in await _orders(settings)]
        assert statuses[2:] == [("5760:li1", Status.CANCELLED), ("5760:li2", Status.CANCELLED)]


async def test_bad_webhooks_get_their_answers_and_nothing_is_produced(
        make_settings: Callable[..., Settings], tmp_path: Path,
        details: tuple[OrderDetails, int]) -> None:
    served, port = details
    settings = await _gateway(make_settings, tmp_path, port)
    served.orders["5761"] = [{"id": "li1", "product_id": "p1", "sale_price": "150000",
                              "currency": "VND"}]
    body = _notification("n-9", "5761", "AWAITING_SHIPMENT")
    forged = _signed(body, secret="not-the-secret-at-all")  # noqa: S106  (the test's own)
    with running(settings, "ingest", tmp_path):
        cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
            ("tts", body, {}, 401, "missing_signature"),
            ("tts", body, forged, 401, "bad_signature"),
            ("tts", body, _signed(body + b" "), 401, "bad_signature"),
            ("tts", body, _signed(body, at_s=int(time.time()) - 3600), 401, "stale_timestamp"),
            ("nobody", body, _signed(body), 404, "unknown_source"),
            ("tts", b"hello", _signed(b"hello"), 400, "bad_body"),
            ("tts", _notification("n-8", "5761", "UNPAID", shop="42"),
             _signed(_notification("n-8", "5761", "UNPAID", shop="42")), 422, "unknown_shop"),
            ("tts-down", body, _signed(body), 503, "amount_lookup_unavailable"),
        ]
        for source, sent, headers, status, error in cases:
            answer = await _send(settings, source, sent, headers)
            assert (answer.status, answer.body["error"]) == (status, error), (source, error)
            assert answer.body["detail"]
        down = await _send(settings, "tts-down", body, _signed(body))
        assert int(down.headers["Retry-After"]) >= 1
        assert await end_offsets(settings, [settings.orders_topic, settings.views_topic]) == {}

        # Refused while the endpoint was down, the notification is not a replay later.
        answer = await _send(settings, "tts", body, _signed(body))
        assert (answer.status, answer.body) == (202, {"accepted": 1})
        assert [(e.event_id, e.status) for _, e in await _orders(settings)] == [
            ("n-9:li1", Status.PAID)]


def test_the_gateway_refuses_to_start_on_a_bad_sources_file(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    bad = tmp_path / "sources.toml"
    bad.write_text('[sources.tts]\nmapping = "shopee"\n')
    result = cli(make_settings(webhook_sources=str(bad)))
    assert result.returncode != 0
    assert "sources.toml" in result.stderr
    assert "mapping" in result.stderr
