"""Hands one message to many sockets without waiting for any of them.

``websockets.broadcast`` writes into each connection's buffer and never waits, so a
screen that stops reading cannot hold the others back; but its buffer would then grow
without end. Before each write the fanout therefore looks at every connection's write
buffer and drops the ones that stay above a high-water mark: such a screen has stopped
reading (or its network has), and it will reconnect and resume when it comes back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from weakref import WeakSet

from prometheus_client import Counter
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.protocol import State

from ocop_live import metrics

# About a minute of board changes at full speed; a screen that reads never gets near it.
DEFAULT_HIGH_WATER = 512 * 1024


class Fanout:
    """Sends to the sockets of one page kind and counts what happened.

    Usage::

        fanout = Fanout(page="board", high_water=512 * 1024)
        fanout.send(clients, text, kind="change")  # never awaits
        fanout.was_dropped(connection)              # True once dropped as too slow
    """

    def __init__(self, *, page: str, high_water: int = DEFAULT_HIGH_WATER) -> None:
        self.page = page
        self.high_water = high_water
        self._dropped: WeakSet[ServerConnection] = WeakSet()
        self._messages: dict[str, Counter] = {}
        self._lost = metrics.WS_DROPPED.labels(page)
        self._slow = metrics.WS_DISCONNECTS.labels(page, "slow")

    def send(self, connections: Iterable[ServerConnection], text: str, *, kind: str) -> int:
        """Write ``text`` to every open, reading connection; returns how many got it."""
        started = time.perf_counter()
        ready, slow, lost = [], [], 0
        for connection in connections:
            if connection.protocol.state is not State.OPEN:
                lost += 1
            elif connection.transport.get_write_buffer_size() > self.high_water:
                slow.append(connection)
            else:
                ready.append(connection)
        broadcast(ready, text)
        for connection in slow:
            self._dropped.add(connection)
            # The peer is not reading, so a closing handshake would only queue behind the
            # backlog: cut the TCP connection now to bound the time and memory it holds.
            connection.transport.abort()
        counter = self._messages.get(kind)
        if counter is None:
            counter = self._messages[kind] = metrics.WS_MESSAGES.labels(self.page, kind)
        counter.inc(len(ready))
        if lost or slow:
            self._lost.inc(lost + len(slow))
        if slow:
            self._slow.inc(len(slow))
        metrics.BROADCAST_SECONDS.observe(time.perf_counter() - started)
        return len(ready)

    def was_dropped(self, connection: ServerConnection) -> bool:
        """Whether this fanout cut ``connection`` for not reading."""
        return connection in self._dropped
