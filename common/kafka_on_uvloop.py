"""aiokafka on uvloop: a write to a connection the peer has closed is a broken connection.

aiokafka turns an ``OSError`` from a socket write into ``KafkaConnectionError``, which
every caller of a connection retries. uvloop raises ``RuntimeError`` ("the handler is
closed") instead when the write lands in the loop iteration or two between the broker
resetting the socket and aiokafka's reader noticing (aio-libs/aiokafka#1038). Uncaught,
it ended the consumer's metadata task after a broker restart: the worker's next offset
commit then waited for metadata forever and the worker stopped counting without dying
(``tests/chaos``, kill -9 Kafka). ``install`` makes that error the one aiokafka handles.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aiokafka.conn import AIOKafkaConnection, CloseReason
from aiokafka.errors import KafkaConnectionError

_MARK = "_closed_transport_is_broken"


def _closed_transport_is_broken(write: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(write)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return write(self, *args, **kwargs)
        except RuntimeError as err:
            writer = self._writer
            if writer is None or not writer.transport.is_closing():
                raise
            # What aiokafka does for an OSError from the same write.
            self.close(reason=CloseReason.CONNECTION_BROKEN)
            raise KafkaConnectionError(
                f"Connection at {self._host}:{self._port} broken: {err}") from err

    setattr(guarded, _MARK, True)
    return guarded


def install() -> None:
    """Guard aiokafka's two socket writes (idempotent)."""
    for name in ("send", "_send_sasl_token"):
        write = getattr(AIOKafkaConnection, name)
        if not getattr(write, _MARK, False):
            setattr(AIOKafkaConnection, name, _closed_transport_is_broken(write))
