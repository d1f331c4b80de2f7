"""One frame per negotiated extension set, shared by every socket that negotiated it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)

from common.settings import Settings
from tests.conftest import seconds
from tests.web.writes import ORDERS, VIEWS, count, join, order
from web.fanout import frame_key
from web.server import WebApp


def _deflate(*, no_takeover: bool, bits: int = 12) -> PerMessageDeflate:
    return PerMessageDeflate(remote_no_context_takeover=False,
                             local_no_context_takeover=no_takeover,
                             remote_max_window_bits=12, local_max_window_bits=bits,
                             compress_settings={"memLevel": 5})


def test_frame_key_shares_only_stateless_encodings() -> None:
    assert frame_key([]) == ()
    assert frame_key([_deflate(no_takeover=True)]) == frame_key([_deflate(no_takeover=True)])
    assert frame_key([_deflate(no_takeover=True)]) != frame_key([_deflate(no_takeover=True,
                                                                          bits=10)])
    # With context takeover a frame's bytes depend on every frame before it.
    assert frame_key([_deflate(no_takeover=False)]) is None


async def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))
        if message["type"] == kind:
            return message  # type: ignore[no-any-return]


@pytest.mark.integration
async def test_screens_with_different_compression_get_the_same_change(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    url = f"ws://127.0.0.1:{settings.web_port}/ws/board"
    small_window = ClientPerMessageDeflateFactory(server_max_window_bits=10,
                                                  client_max_window_bits=10)
    try:
        async with WebApp(settings=settings).serving(), \
                connect(url, compression=None) as plain, \
                connect(url) as deflate, connect(url, extensions=[small_window],
                                                 compression=None) as small:
            screens = (plain, deflate, small)
            assert [ws.protocol.extensions == [] for ws in screens] == [True, False, False]
            for ws in screens:
                await _next(ws, "snapshot")
            await count(settings, redis, VIEWS, [join(f"v{i}", "cp-1", f"u{i}")
                                                 for i in range(3)])
            await count(settings, redis, ORDERS, [order("o1", "cp-1", 75_000)])
            changes = [await _next(ws, "change") for ws in screens]
            while any(c["changes"].get("totals", {}).get("orders") != 1 for c in changes):
                changes = [await _next(ws, "change") for ws in screens]
            assert changes[0] == changes[1] == changes[2]
            assert changes[0]["changes"]["totals"]["gmv_vnd"] == 75_000
    finally:
        await redis.aclose()
