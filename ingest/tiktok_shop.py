"""The TikTok Shop mapping: order notifications and order details into order events.

Written from TikTok Shop's public partner docs (API version 202309); the real service was
never reached from here. What it assumes (README, "Webhooks"):

- A notification is ``{"type", "tts_notification_id", "shop_id", "timestamp", "data"}``.
  Type 1 (order status change) has ``data.order_id``, ``data.order_status`` and
  ``data.update_time`` (unix seconds); type 12 (return status change) has
  ``data.order_id`` and ``data.return_status``. Other types carry no order events.
- Notifications carry no amounts or line items: the order-detail call
  (``GET /order/202309/orders?ids=…``) answers
  ``{"code": 0, "data": {"orders": [{"id", "line_items": [{"id", "product_id",
  "sale_price", "currency"}]}]}}``, one line item per unit sold (``quantity`` is read
  when present, 1 otherwise), prices as decimal strings.
- UNPAID is placed; ON_HOLD through COMPLETED are paid; CANCELLED is cancelled; a return
  that reached RETURN_OR_REFUND_REQUEST_COMPLETE refunds every line item of the order.

Each line item becomes one event: order ``<order_id>:<line item id>``, event id
``<notification id>:<line item id>``, so a redelivered notification repeats its event ids
and the worker counts it once.

Usage::

    notification = parse_notification(body)                  # or BadNotification
    status = order_status(notification)                      # None: nothing to count
    items = await lookup.line_items(source, notification.data.order_id)
    events = order_events(notification, status, items, session_id="cp-01")
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Protocol

import aiohttp
import msgspec

from ingest.webhooks import Source

ORDER_STATUS_CHANGE = 1
RETURN_STATUS_CHANGE = 12
REFUND_COMPLETE = "RETURN_OR_REFUND_REQUEST_COMPLETE"
_PAID = ("ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION",
         "IN_TRANSIT", "DELIVERED", "COMPLETED")
ORDER_STATUSES = {"UNPAID": "placed", "CANCELLED": "cancelled",
                  **dict.fromkeys(_PAID, "paid")}


class BadNotification(ValueError):
    """A body that is not a TikTok Shop notification, or one this mapping cannot place."""


class _Data(msgspec.Struct, frozen=True):
    order_id: str
    order_status: str | None = None
    return_status: str | None = None
    update_time: int | None = None


class Notification(msgspec.Struct, frozen=True):
    """A push notification, as far as this mapping reads it."""

    type: int
    tts_notification_id: str
    shop_id: str
    timestamp: int
    data: _Data


_notification = msgspec.json.Decoder(Notification)


def parse_notification(body: bytes) -> Notification:
    """The notification in ``body``."""
    try:
        return _notification.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadNotification(f"body is not a TikTok Shop notification: {exc}") from exc


def order_status(notification: Notification) -> str | None:
    """The contract status the notification sets, or None when it sets none."""
    data = notification.data
    if notification.type == RETURN_STATUS_CHANGE:
        return "refunded" if data.return_status == REFUND_COMPLETE else None
    if notification.type != ORDER_STATUS_CHANGE:
        return None
    status = ORDER_STATUSES.get(data.order_status or "")
    if status is None:
        raise BadNotification(f"order_status {data.order_status!r} of order "
                              f"{data.order_id!r} has no mapping")
    return status


class LineItem(msgspec.Struct, frozen=True):
    """One line item of an order, with the amount it counts for."""

    id: str
    product_id: str
    quantity: int
    amount_vnd: int


class LookupUnavailable(RuntimeError):
    """The order-detail endpoint did not answer, or answered an error: retry later."""


class BadDetail(ValueError):
    """The order detail arrived but cannot be counted (shape, currency, price)."""


class AmountLookup(Protocol):
    """Where the line items and amounts of an order come from."""

    async def line_items(self, source: Source, order_id: str) -> list[LineItem]:
        """The order's line items; raises LookupUnavailable or BadDetail."""
        ...


class _DetailItem(msgspec.Struct, frozen=True):
    id: str
    product_id: str
    sale_price: str
    currency: str
    quantity: int = 1


class _DetailOrder(msgspec.Struct, frozen=True):
    id: str
    line_items: list[_DetailItem]


class _DetailData(msgspec.Struct, frozen=True):
    orders: list[_DetailOrder]


class _Detail(msgspec.Struct, frozen=True):
    code: int
    message: str = ""
    data: _DetailData | None = None


_detail = msgspec.json.Decoder(_Detail)


def detail_items(body: bytes, order_id: str) -> list[LineItem]:
    """The line items of ``order_id`` in an order-detail response body."""
    try:
        detail = _detail.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadDetail(f"order detail of {order_id!r} is not the documented shape: "
                        f"{exc}") from exc
    if detail.code != 0 or detail.data is None:
        raise LookupUnavailable(f"order detail of {order_id!r} answered code {detail.code}: "
                                f"{detail.message!r}")
    order = next((o for o in detail.data.orders if o.id == order_id), None)
    if order is None or not order.line_items:
        raise BadDetail(f"order detail holds no line items of order {order_id!r}")
    return [LineItem(item.id, item.product_id, item.quantity,
                     _vnd(item, order_id) * item.quantity) for item in order.line_items]


def _vnd(item: _DetailItem, order_id: str) -> int:
    if item.currency != "VND":
        raise BadDetail(f"line item {item.id!r} of order {order_id!r} is priced in "
                        f"{item.currency!r}, not VND")
    try:
        price = Decimal(item.sale_price)
    except InvalidOperation as exc:
        raise BadDetail(f"sale_price {item.sale_price!r} of line item {item.id!r} is not "
                        f"a number") from exc
    # The đồng has no minor unit: a fractional price is a mistake, not a rounding case.
    if not price.is_finite() or price != price.to_integral_value() or price < 0:
        raise BadDetail(f"sale_price {item.sale_price!r} of line item {item.id!r} is not "
                        f"a whole number of đồng")
    return int(price)


class HttpAmountLookup:
    """The order-detail call over HTTP, to each source's ``amount_url``."""

    def __init__(self, *, timeout_s: float) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool."""
        self._session = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()

    async def line_items(self, source: Source, order_id: str) -> list[LineItem]:
        """GET the source's ``amount_url`` for ``order_id``."""
        if self._session is None:
            raise RuntimeError("HttpAmountLookup.start() was not called")
        url = source.amount_url.replace("{order_id}", order_id)
        try:
            async with self._session.get(url, headers=source.amount_headers) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LookupUnavailable(f"order detail of {order_id!r} from {url}: "
                                    f"{type(exc).__name__}: {exc}") from exc
        if response.status != 200:
            raise LookupUnavailable(f"order detail of {order_id!r} from {url}: HTTP "
                                    f"{response.status}")
        return detail_items(body, order_id)


def order_events(notification: Notification, status: str, items: list[LineItem], *,
                 session_id: str) -> list[dict[str, object]]:
    """One contract order event per line item."""
    data = notification.data
    ts_ms = (data.update_time or notification.timestamp) * 1000
    return [{"event_id": f"{notification.tts_notification_id}:{item.id}",
             "order_id": f"{data.order_id}:{item.id}", "session_id": session_id,
             "product_id": item.product_id, "quantity": item.quantity,
             "amount_vnd": item.amount_vnd, "status": status, "ts": ts_ms}
            for item in items]
