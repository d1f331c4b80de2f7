"""A board screen for the ops tests: it acks every sequence number, as board.js does."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect


@contextlib.asynccontextmanager
async def acking_screen(url: str) -> AsyncIterator[ClientConnection]:
    """A socket on the board at ``url`` that acks every sequence number it receives."""
    async with connect(url) as socket:

        async def report() -> None:
            async for raw in socket:
                seq = json.loads(raw).get("seq")
                if isinstance(seq, int):
                    await socket.send(json.dumps({"type": "ack", "seq": seq}))

        task = asyncio.create_task(report())
        try:
            yield socket
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
