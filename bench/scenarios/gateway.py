"""Ingest gateway: ``ocop-live ingest`` taking 500-event POSTs, next to the same events
sent straight to Kafka.

Both paths carry one generated fair (bench/prefill.py), cut into batches of 500 events
(the gateway's limit) in generation order and sent over and over, in order, for a fixed
time (a fair big enough to last would not fit in memory; the gateway takes a re-sent
event like any other, and the worker would skip it by its id). The gateway gets each
batch as one JSON-array POST from a few concurrent connections and answers 202 once Kafka
acknowledged it. The straight path hands the same batches, framed as the gateway frames
them (an envelope per session and topic, ``ingest.events.envelopes``), to the gateway's
own ``Delivery`` in the bench process, as many batches in flight as there are
connections: the same records and the same producer (idempotent, acks=all, the same
linger), without HTTP, key lookup and validation. What separates the two is what the
gateway process adds.

Each path's first round (one batch per connection) opens connections and fetches topic
metadata, so it is left out of the timing; it still counts when the topics are checked.
A connection stops taking batches once the time is up, so the timed part ends with the
last acknowledgement.

The check reads each path's topics back: their records (end offsets) must be the
envelopes its accepted batches make and hold exactly the events accepted, else the
path's figures are NaN and the report says what the topics held.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import msgspec
from redis.asyncio import Redis

from bench.context import Context, Figures
from bench.prefill import fair_messages, now_ms
from bench.scenarios.reader import cpu_now, from_start
from bench.services import Service, ServiceError, python_argv, settings_env
from bench.stats import percentile, ratio
from bench.topics import create_topics, delete_topics, end_offsets, scenario_settings
from common.settings import Settings
from devtools.simulator.fair import Message
from devtools.stack.ports import pick_free_ports
from ingest.events import MAX_EVENTS, Valid, envelopes
from ingest.keys import KeyStore
from ingest.producer import Delivery, Unavailable
from store.keys import Keys

_T = TypeVar("_T")
_KEY_NAME = "bench"
# Reading a path's topics back, and the straight path's producer connecting, wait at most
# this long.
_DEADLINE_S = 300.0
# Past the default 5,000 events/s a key may post: the bench measures the process, not the
# per-key rate limit.
_KEY_RATE = 100_000_000
# The figures a path that failed its check does not report.
_MEASURED = ("events_s", "p50_ms", "p99_ms", "cpu_per_1k")


@dataclass(frozen=True, slots=True)
class Batch:
    """Up to 500 events: the POST body (a JSON array) and the events as the gateway
    splits them."""

    body: bytes
    events: tuple[Valid, ...]
    # How many Kafka records (envelopes) the gateway makes of it.
    records: int


def batches(messages: Sequence[Message], size: int = MAX_EVENTS) -> list[Batch]:
    """Consecutive runs of ``size`` events, in generation order.

    Raises ValueError for a message that does not hold exactly one event (the fair must
    be generated one event per message, as ``fair_messages`` does).
    """
    for i, m in enumerate(messages):
        if len(m.events) != 1:
            raise ValueError(f"message {i} holds {len(m.events)} events, not one")
    out = []
    for start in range(0, len(messages), size):
        chunk = messages[start:start + size]
        events = [Valid(i, m.topic_kind, m.key, m.value) for i, m in enumerate(chunk)]
        framed = envelopes(events, views_topic="views", orders_topic="orders")
        out.append(Batch(b"[" + b",".join(m.value for m in chunk) + b"]", tuple(events),
                         len(framed)))
    return out


@dataclass(frozen=True, slots=True)
class Sent:
    """What one path sent: the timed batches' latencies, the batches taken in the
    warm-up round and in the timed part, how many were refused, the timed seconds."""

    latencies_ms: list[float]
    warm: list[Batch]
    taken: list[Batch]
    refused: int
    seconds: float

    @property
    def accepted(self) -> list[Batch]:
        """Every batch taken, warm-up included (what the topics must hold)."""
        return self.warm + self.taken


async def drive(items: Iterable[_T], clients: int, send: Callable[[_T], Awaitable[bool]],
                *, seconds: float = float("inf")) -> tuple[list[float], list[_T], float]:
    """``send`` items from ``clients`` loops, each taking the next item when free, until
    the items run out or ``seconds`` are up (a send under way is finished).

    Returns each send's milliseconds, the items ``send`` said were taken, and the wall
    seconds of the whole.
    """
    pending = iter(items)
    latencies: list[float] = []
    taken: list[_T] = []
    began = time.perf_counter()
    deadline = began + seconds

    async def loop() -> None:
        for item in pending:
            started = time.perf_counter()
            ok = await send(item)
            done = time.perf_counter()
            latencies.append((done - started) * 1000)
            if ok:
                taken.append(item)
            if done >= deadline:
                return

    await asyncio.gather(*(loop() for _ in range(clients)))
    return latencies, taken, time.perf_counter() - began


async def _rounds(work: Sequence[Batch], clients: int, seconds: float,
                  send: Callable[[Batch], Awaitable[bool]],
                  cpu: Callable[[], float]) -> tuple[Sent, float]:
    """A warm-up round of one batch per client, then ``work`` over and over for
    ``seconds``, timed; also the CPU seconds ``cpu`` counted over the timed part."""
    _, warm, _ = await drive(work[:clients], clients, send)
    before = cpu()
    latencies, taken, elapsed = await drive(
        itertools.islice(itertools.cycle(work), clients, None), clients, send,
        seconds=seconds)
    cpu_s = cpu() - before
    refused = min(clients, len(work)) - len(warm) + len(latencies) - len(taken)
    return Sent(latencies, warm, taken, refused, elapsed), cpu_s


def summary(sent: Sent, *, cpu_s: float) -> Figures:
    """One path's timed figures: events/s accepted, batch latency p50/p99, CPU seconds
    per 1,000 events and CPU as a share of one core."""
    timed = sum(len(b.events) for b in sent.taken)
    return {
        "events_s": ratio(timed, sent.seconds),
        "p50_ms": percentile(sent.latencies_ms, 50.0),
        "p99_ms": percentile(sent.latencies_ms, 99.0),
        "cpu_per_1k": ratio(1000 * cpu_s, timed),
        "cpu_share": ratio(cpu_s, sent.seconds),
        "batches": float(len(sent.latencies_ms)),
        "refused": float(sent.refused),
        "seconds": sent.seconds,
    }


@dataclass(frozen=True, slots=True)
class Check:
    """What a path's topics hold against what its accepted batches make."""

    records_expected: int
    records_found: int
    events_expected: int
    events_found: int

    @property
    def ok(self) -> bool:
        """Whether the topics hold exactly what was accepted."""
        return (self.records_found, self.events_found) == (self.records_expected,
                                                           self.events_expected)

    def figures(self) -> Figures:
        """The check as figures (``ok`` as 1 or 0)."""
        return {"records_expected": float(self.records_expected),
                "records_found": float(self.records_found),
                "events_expected": float(self.events_expected),
                "events_found": float(self.events_found), "checked": float(self.ok)}


def checked(figures: Figures, check: Check) -> Figures:
    """A path's figures with its check; the measured ones NaN when the check failed."""
    measured = figures if check.ok else figures | dict.fromkeys(_MEASURED, float("nan"))
    return measured | check.figures()


def side_by_side(gateway: Figures, straight: Figures) -> Figures:
    """Both paths' figures, prefixed ``gateway_`` and ``straight_``, with the ratios
    gateway / straight of events/s, p50, p99 and CPU."""
    out = {f"gateway_{k}": v for k, v in gateway.items()}
    out |= {f"straight_{k}": v for k, v in straight.items()}
    out |= {f"ratio_{k}": ratio(gateway[k], straight[k]) for k in _MEASURED}
    return out


async def _read_back(settings: Settings, partitions: int,
                     accepted: Sequence[Batch]) -> Check:
    topics = [settings.views_topic, settings.orders_topic]
    ends = await end_offsets(settings.kafka_bootstrap, topics, partitions)
    records = sum(ends.values())
    decode = msgspec.json.Decoder(list[msgspec.Raw]).decode
    consumer = await from_start(settings.kafka_bootstrap, topics, partitions)
    read = events = 0
    try:
        deadline = time.monotonic() + _DEADLINE_S
        while read < records and time.monotonic() < deadline:
            for found in (await consumer.getmany(timeout_ms=1000)).values():
                read += len(found)
                events += sum(len(decode(r.value)) for r in found)
    finally:
        await consumer.stop()
    return Check(records_expected=sum(b.records for b in accepted),
                 records_found=records,
                 events_expected=sum(len(b.events) for b in accepted), events_found=events)


class _FirstRefusal:
    """Logs a path's first refused batch; the report gives the count of all."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.said = False

    def first(self, message: str) -> None:
        if not self.said:
            self.said = True
            self.ctx.log(f"{message} (further refusals are counted in the report)")


async def _new_key(settings: Settings) -> str:
    redis = Redis.from_url(settings.redis_url)
    try:
        return await KeyStore(redis, Keys(settings.key_prefix)).add(
            _KEY_NAME, sessions=(), shops=())
    finally:
        await redis.aclose()


async def _through_gateway(ctx: Context, settings: Settings,
                           work: Sequence[Batch]) -> tuple[Sent, float]:
    """POST ``work`` to a gateway process of its own; also its CPU seconds while timed."""
    clients = ctx.config.gateway_clients
    refusal = _FirstRefusal(ctx)
    key = await _new_key(settings)
    url = f"http://127.0.0.1:{settings.ingest_port}/v1/events"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    gateway = Service.start("gateway", python_argv("cli", "ingest"),
                            env=settings_env(settings), log_dir=ctx.log_dir)
    try:
        gateway.wait_http(f"http://127.0.0.1:{settings.ingest_port}/healthz")
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

            async def post(batch: Batch) -> bool:
                async with http.post(url, data=batch.body) as response:
                    answer = await response.read()
                if response.status != 202:
                    refusal.first(f"gateway answered {response.status}: {answer[:200]!r}")
                    return False
                accepted: int = json.loads(answer)["accepted"]
                if accepted != len(batch.events):
                    refusal.first(f"gateway accepted {accepted} of {len(batch.events)} "
                                  f"events: {answer[:200]!r}")
                    return False
                return True

            def cpu() -> float:
                stat = gateway.sample()
                if stat is None:
                    gateway.check_alive()
                    raise ServiceError(f"gateway: cannot read /proc of pid {gateway.pid}")
                return stat.cpu_s

            return await _rounds(work, clients, ctx.config.gateway_s, post, cpu)
    finally:
        gateway.stop()


async def _straight(ctx: Context, settings: Settings,
                    work: Sequence[Batch]) -> tuple[Sent, float]:
    """Hand ``work`` to the gateway's ``Delivery`` here; also this process' CPU seconds
    while timed."""
    clients = ctx.config.gateway_clients
    refusal = _FirstRefusal(ctx)
    delivery = Delivery(settings)
    await delivery.start()
    try:
        deadline = time.monotonic() + _DEADLINE_S
        while not delivery.ready:
            if time.monotonic() > deadline:
                raise ServiceError(f"no producer connected to {settings.kafka_bootstrap} "
                                   f"within {_DEADLINE_S:.0f} s")
            await asyncio.sleep(0.05)
        # Framed before the clock starts: this path times Kafka alone.
        framed = {id(b): envelopes(list(b.events), views_topic=settings.views_topic,
                                   orders_topic=settings.orders_topic) for b in work}

        async def send(batch: Batch) -> bool:
            try:
                await delivery.send(framed[id(batch)])
            except Unavailable as exc:
                refusal.first(f"straight to Kafka: {exc}")
                return False
            return True

        return await _rounds(work, clients, ctx.config.gateway_s, send, cpu_now)
    finally:
        await delivery.stop()


@dataclass(frozen=True, slots=True)
class Latencies:
    """Each timed batch's milliseconds on both paths, for the plot."""

    gateway_ms: list[float]
    straight_ms: list[float]


async def gateway(ctx: Context) -> tuple[Figures, Latencies]:
    """Both paths on topics of their own, one after the other, then each checked."""
    config = ctx.config
    ctx.log(f"generating {config.gateway_events:,} events for the gateway")
    work = batches(fair_messages(config.gateway_events, seed=config.seed + 2,
                                 now_ms=now_ms()))
    (port,) = pick_free_ports(1)
    through = scenario_settings(ctx.addrs, ctx.tag("gateway"), partitions=config.partitions,
                                overrides={"ingest_port": port, "ingest_key_rate": _KEY_RATE})
    straight = scenario_settings(ctx.addrs, ctx.tag("straight"), partitions=config.partitions)
    made = [through, straight]
    try:
        for settings in made:
            await create_topics(settings)
        ctx.log(f"gateway: POSTs of {MAX_EVENTS} events from {config.gateway_clients} "
                f"connections for {config.gateway_s:.0f} s")
        by_http, gateway_cpu = await _through_gateway(ctx, through, work)
        ctx.log(f"straight to Kafka: the same batches, {config.gateway_clients} in flight "
                f"for {config.gateway_s:.0f} s")
        direct, straight_cpu = await _straight(ctx, straight, work)
        ctx.log("reading both paths' topics back")
        gateway_check = await _read_back(through, config.partitions, by_http.accepted)
        straight_check = await _read_back(straight, config.partitions, direct.accepted)
    finally:
        await delete_topics(ctx.addrs.kafka_bootstrap,
                            [t for s in made for t in (s.views_topic, s.orders_topic,
                                                       s.sessions_topic, s.dlq_topic)])
    for name, check in (("gateway", gateway_check), ("straight to Kafka", straight_check)):
        if not check.ok:
            ctx.log(f"{name}: the topics hold {check.records_found:,} records with "
                    f"{check.events_found:,} events, not the {check.records_expected:,} "
                    f"with {check.events_expected:,} accepted; its figures are left out")
    figures = side_by_side(checked(summary(by_http, cpu_s=gateway_cpu), gateway_check),
                           checked(summary(direct, cpu_s=straight_cpu), straight_check))
    figures |= {"clients": float(config.gateway_clients), "batch_events": float(MAX_EVENTS)}
    return figures, Latencies(by_http.latencies_ms, direct.latencies_ms)
