"""Hands one message to many sockets without waiting for any of them.

Like ``websockets.broadcast``, the fanout writes into each connection's buffer and never
waits, so a screen that stops reading cannot hold the others back; but its buffer would
then grow without end. Before each write the fanout therefore looks at every
connection's write buffer and drops the ones that stay above a high-water mark: such a
screen has stopped reading (or its network has), and it will reconnect and resume when
it comes back.

``websockets.broadcast`` builds (and compresses) the frame once per connection, which
for a thousand screens cost more CPU than everything else the web process does. The
server negotiates per-message deflate without server context takeover
(``SERVER_EXTENSIONS``), so a frame's bytes depend only on the message and the
negotiated window size: the fanout builds each frame once per distinct set of
negotiated extensions and writes those same bytes to every socket that shares it (see
websockets' ``docs/topics/broadcast.rst``, "Performance considerations").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable, Sequence
from weakref import WeakSet

from prometheus_client import Counter
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.extensions import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from common import metrics

log = logging.getLogger(__name__)

# About a minute of board changes at full speed; a screen that reads never gets near it.
DEFAULT_HIGH_WATER = 512 * 1024

# websockets' own defaults (window 12 bits, memLevel 5) plus no server context takeover:
# each message is compressed on its own, so one compressed frame serves every screen.
# Board changes are several KiB of repetitive JSON, so a message alone still compresses
# well; only tiny heartbeats lose, and they are a few dozen bytes either way.
SERVER_EXTENSIONS = (
    ServerPerMessageDeflateFactory(server_no_context_takeover=True, server_max_window_bits=12,
                                   client_max_window_bits=12,
                                   compress_settings={"memLevel": 5}),
)


def frame_key(extensions: Sequence[Extension]) -> Hashable | None:
    """What a server frame's bytes depend on, or None when they depend on past frames.

    Connections with equal keys receive byte-identical frames for the same message.
    """
    key: list[Hashable] = []
    for extension in extensions:
        if not isinstance(extension, PerMessageDeflate) or not extension.local_no_context_takeover:
            return None
        key.append((extension.name, extension.local_max_window_bits,
                    tuple(sorted(extension.compress_settings.items()))))
    return tuple(key)


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

    def send(self, connections: Iterable[ServerConnection], text: str | bytes, *,
             kind: str) -> int:
        """Write ``text`` (str, or JSON already UTF-8 encoded) to every open, reading
        connection as one text frame; returns how many got it."""
        started = time.perf_counter()
        data = text.encode() if isinstance(text, str) else text
        frames: dict[Hashable, bytes] = {}
        sent, lost = 0, 0
        slow: list[ServerConnection] = []
        for connection in connections:
            if connection.protocol.state is not State.OPEN:
                lost += 1
                continue
            transport = connection.transport
            if transport.get_write_buffer_size() > self.high_water:
                slow.append(connection)
                continue
            if connection.send_in_progress is not None:
                # A fragmented message is being sent; a frame now would corrupt it.
                lost += 1
                continue
            extensions = connection.protocol.extensions
            key = frame_key(extensions)
            if key is None:
                # Not shareable: let websockets frame it for this connection alone.
                broadcast([connection], data, text=True)
                sent += 1
                continue
            frame = frames.get(key)
            if frame is None:
                frame = frames[key] = Frame(Opcode.TEXT, data).serialize(mask=False,
                                                                         extensions=extensions)
            try:
                transport.write(frame)
            except (OSError, RuntimeError) as exc:
                lost += 1
                log.warning("skipped a %s message: %s", self.page, exc)
                continue
            sent += 1
        for connection in slow:
            self._dropped.add(connection)
            # The peer is not reading, so a closing handshake would only queue behind the
            # backlog: cut the TCP connection now to bound the time and memory it holds.
            connection.transport.abort()
        counter = self._messages.get(kind)
        if counter is None:
            counter = self._messages[kind] = metrics.WS_MESSAGES.labels(self.page, kind)
        counter.inc(sent)
        if lost or slow:
            self._lost.inc(lost + len(slow))
        if slow:
            self._slow.inc(len(slow))
        metrics.BROADCAST_SECONDS.observe(time.perf_counter() - started)
        return sent

    def was_dropped(self, connection: ServerConnection) -> bool:
        """Whether this fanout cut ``connection`` for not reading."""
        return connection in self._dropped
