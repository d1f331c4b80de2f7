"""redis-py on uvloop: a write to a connection the server has closed is a broken connection.

redis-py turns an ``OSError`` from a socket write into its ``ConnectionError``, which its
cluster client and every caller here retry (``streams/retry.py``). uvloop raises
``RuntimeError`` ("the handler is closed") instead once the server has reset the socket
and the loop has closed its handle. A Redis Cluster master killed or restarting does
exactly that: the worker's reconnect wrote its handshake into the reset socket, the
``RuntimeError`` went through the stall sweep's retry untouched, and faust stopped the
whole worker, which then hung in its shutdown (``tests/chaos/test_cluster_faults.py``).
``install`` makes that error the one redis-py handles.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

_MARK = "_closed_transport_is_broken"


def _closed_transport_is_broken(
    send: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    @functools.wraps(send)
    async def guarded(self: Any, *args: Any, **kwargs: Any) -> None:
        writer = self._writer
        try:
            await send(self, *args, **kwargs)
        except RuntimeError as err:
            if writer is None or not writer.transport.is_closing():
                raise
            # redis-py has already disconnected (its handler of any other error); what
            # it raises for an OSError from the same write:
            raise RedisConnectionError(
                f"Error while writing to {self._host_error()}: the server closed the "
                f"connection ({err})") from err

    setattr(guarded, _MARK, True)
    return guarded


def install() -> None:
    """Guard redis-py's asyncio socket write (idempotent)."""
    send = AbstractConnection.send_packed_command
    if not getattr(send, _MARK, False):
        AbstractConnection.send_packed_command = _closed_transport_is_broken(send)  # type: ignore[method-assign,assignment]
