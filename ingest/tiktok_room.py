"""A TikTok LIVE room's joins and viewer counts, published as the gateway publishes.

The ``TikTokLive`` client (the ``tiktok`` extra, imported only here and only when a room
is connected) reads the room's webcast feed; ``ingest/tiktok.py`` maps its events; each
mapped event goes through the worker's strict decoder (``ingest/events.py``) and the
gateway's producer (``ingest/producer.py``), keyed by session, so the worker counts it
exactly as a posted one. Nothing in the tests reaches TikTok: the feed needs network
access and, when TikTok asks for signed requests, a sign-server key.

Usage::

    room = Room(settings, session_id="cp-01")
    await room.run(handle="@shop", sign_api_key=None, stop=stop_event)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from common.clock import wall_ms
from common.settings import Settings
from ingest import tiktok
from ingest.events import MAX_EVENTS, check_events, decoders, envelopes
from ingest.producer import Delivery, Unavailable

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'ocop-live[tiktok]'"
# Between attempts to send a batch Kafka did not acknowledge.
_RETRY_S = 1.0


class MissingExtra(RuntimeError):
    """The TikTokLive library (the ``tiktok`` extra) is not installed."""


class RoomError(RuntimeError):
    """The room cannot be read; the message says what to do."""


def load_library() -> tuple[ModuleType, ModuleType]:
    """TikTokLive's top-level and error modules, or MissingExtra naming the install."""
    try:
        import TikTokLive
        from TikTokLive.client import errors
    except ImportError as exc:
        raise MissingExtra(f"TikTok LIVE needs the TikTokLive library, which is not "
                           f"installed ({exc}); install it with: {INSTALL_HINT}") from exc
    return TikTokLive, errors


class Room:
    """One session's room: maps events, checks them strictly, sends them in batches."""

    def __init__(self, settings: Settings, *, session_id: str,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.settings = settings
        self.session_id = session_id
        self.clock = clock
        self.decoders = decoders(settings.max_message_bytes)
        self.pending: list[bytes] = []
        self.refused = 0
        # Events dropped because the queue was full, in all and since it last had room.
        self.overflowed = 0
        self._overflowing = 0
        self._ready = asyncio.Event()

    def accept(self, raw: bytes) -> bool:
        """Queue one mapped event if the strict decoder takes it and the queue has room;
        log why if not."""
        checked = check_events([raw], self.decoders)
        if checked.problems:
            problem = checked.problems[0]
            self.refused += 1
            log.warning("dropped a TikTok event the contract refuses (%s, field %s): %s: %s",
                        problem.reason.value, problem.field, problem.detail, raw[:200])
            return False
        if len(self.pending) >= self.settings.tiktok_max_pending:
            self._overflow()
            return False
        self._had_room()
        self.pending.append(raw)
        self._ready.set()
        return True

    def _overflow(self) -> None:
        # The newest event is the one dropped: the oldest ones may be in flight to Kafka.
        if not self._overflowing:
            log.error("%d events of session %s wait for Kafka (OCOP_KAFKA_BOOTSTRAP=%s), "
                      "the most one room holds (OCOP_TIKTOK_MAX_PENDING): newer events are "
                      "dropped until Kafka takes some; bring the broker back",
                      len(self.pending), self.session_id, self.settings.kafka_bootstrap)
        self._overflowing += 1
        self.overflowed += 1

    def _had_room(self) -> None:
        if self._overflowing:
            log.warning("the queue of session %s has room again; %d events were dropped "
                        "while it was full", self.session_id, self._overflowing)
            self._overflowing = 0

    def on_join(self, event: Any) -> None:
        """TikTokLive's JoinEvent: a ``join`` view event."""
        mapped = tiktok.join_event(event, session_id=self.session_id, received_ms=self.clock())
        if mapped is not None:
            self.accept(tiktok.encode(mapped))

    def on_viewers(self, event: Any) -> None:
        """TikTokLive's RoomUserSeqEvent: a ``viewers`` count event."""
        self.accept(tiktok.encode(tiktok.viewers_event(
            event, session_id=self.session_id, received_ms=self.clock())))

    async def _send_pending(self, delivery: Delivery) -> None:
        # A batch stays queued until Kafka acknowledged it: the room's feed cannot be
        # asked again, and a resend that did reach Kafka is dropped by its event ids.
        while self.pending:
            batch = self.pending[:MAX_EVENTS]
            records = envelopes(check_events(batch, self.decoders).valid,
                                views_topic=self.settings.views_topic,
                                orders_topic=self.settings.orders_topic)
            try:
                await delivery.send(records)
            except Unavailable as exc:
                log.warning("%d events wait for Kafka (OCOP_KAFKA_BOOTSTRAP=%s): %s",
                            len(self.pending), self.settings.kafka_bootstrap, exc)
                await asyncio.sleep(_RETRY_S)
                continue
            del self.pending[:len(batch)]
            log.debug("sent %d events of session %s", len(batch), self.session_id)

    async def _sender(self, delivery: Delivery) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            await self._send_pending(delivery)

    async def run(self, *, handle: str, sign_api_key: str | None,
                  stop: asyncio.Event) -> None:
        """Read the room until ``stop`` is set or the LIVE ends, then flush to Kafka."""
        library, errors = load_library()
        web_kwargs = {"signer_kwargs": {"sign_api_key": sign_api_key}} if sign_api_key else None
        client = library.TikTokLiveClient(unique_id=handle, web_kwargs=web_kwargs)
        events = library.events
        client.add_listener(events.JoinEvent, self.on_join)
        client.add_listener(events.RoomUserSeqEvent, self.on_viewers)
        client.add_listener(events.ConnectEvent, lambda event: log.info(
            "connected to the LIVE of @%s (room %s) for session %s",
            event.unique_id, event.room_id, self.session_id))
        client.add_listener(events.LiveEndEvent, lambda _event: _ended(handle, stop))
        delivery = Delivery(self.settings)
        await delivery.start()
        sender = asyncio.create_task(self._sender(delivery))
        try:
            feed = await _start(client, handle, errors)
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({feed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if feed.done() and not stop.is_set():
                problem = None if feed.cancelled() else feed.exception()
                log.warning("the feed of %s closed (%s); run the command again to resume",
                            handle, problem or "disconnected")
            await client.disconnect()
        finally:
            # Closing the HTTP session on the way out: a failure there loses nothing, and
            # must not keep the queued events from the flush below.
            with contextlib.suppress(Exception):
                await client.web.close()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await self.flush(delivery)
            await delivery.stop()

    async def flush(self, delivery: Delivery) -> None:
        """Send what is queued, waiting a bounded time for Kafka; log what is lost."""
        if not self.pending:
            return
        log.info("sending the last %d events before stopping", len(self.pending))
        try:
            async with asyncio.timeout(self.settings.ingest_send_timeout_s * 3):
                while not delivery.ready:
                    await asyncio.sleep(0.1)
                await self._send_pending(delivery)
        except TimeoutError:
            log.error("Kafka did not take the last %d events of session %s; they are lost",
                      len(self.pending), self.session_id)


def _ended(handle: str, stop: asyncio.Event) -> None:
    log.info("the LIVE of %s ended; stopping", handle)
    stop.set()


async def _start(client: Any, handle: str, errors: ModuleType) -> asyncio.Task[None]:
    """The client's feed task, or a RoomError saying what to do."""
    import httpx  # a dependency of TikTokLive, so present whenever it is

    try:
        feed: asyncio.Task[None] = await client.start(fetch_live_check=True)
    except errors.UserOfflineError as exc:
        raise RoomError(f"{handle} is not live now; start the LIVE, then run the command "
                        f"again") from exc
    except errors.UserNotFoundError as exc:
        raise RoomError(f"TikTok knows no user {handle}; check --room (or TikTok asked "
                        f"for a captcha: try again later)") from exc
    except errors.SignAPIError as exc:
        raise RoomError(f"the sign server refused to sign the connection to {handle} "
                        f"({exc}); pass a sign-server API key with --sign-api-key or "
                        f"OCOP_TIKTOK_SIGN_API_KEY") from exc
    except errors.TikTokLiveError as exc:
        raise RoomError(f"cannot connect to {handle}: {type(exc).__name__}: {exc}") from exc
    except (httpx.HTTPError, OSError) as exc:
        raise RoomError(f"cannot reach TikTok for {handle} ({type(exc).__name__}: {exc}); "
                        f"this needs network access to tiktok.com and the sign "
                        f"server") from exc
    return feed
