"""Compare what Redis holds with the simulator's ground truth, and read dead letters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from common.catalog import SAMPLE_CATALOG, Catalog, load_catalog
from common.settings import Settings
from store.client import redis_client
from store.keys import Keys
from tests.conftest import seconds
from web.payload import build_board, build_session
from web.reader import StoreReader

COUNTS = ("views", "orders", "units", "gmv_vnd")
EXACT = (*COUNTS, "viewers_now")
HLL_TOLERANCE = 0.025  # three standard errors of Redis' HyperLogLog (0.81 %)
# The sample campaign's last fair. Its catalog alone makes the board (which shows one
# fair) cover everything a single-fair test counts.
SAMPLE_FAIR = "cg-2023-11-25"


def sample_fair_catalog() -> Catalog:
    """The sample campaign's Cần Giờ fair and its 40 sessions."""
    return load_catalog(SAMPLE_CATALOG).for_fair(SAMPLE_FAIR)


def hll_close(actual: int, expected: int) -> bool:
    """Whether a HyperLogLog count is within the documented error of the exact count."""
    return abs(actual - expected) <= max(1, HLL_TOLERANCE * expected)


@dataclass(frozen=True, slots=True)
class Drift:
    """How far the store is from the truth: events lost and counted twice (both 0 = exact)."""

    lost: int
    double_counted: int
    mismatches: list[str]


async def drift_from_truth(settings: Settings, truth: dict[str, Any]) -> Drift:
    """Board totals and every session's numbers against the ground truth."""
    redis = redis_client(settings, decode_responses=True)
    reader = StoreReader(redis, keys=Keys(settings.key_prefix), shards=settings.partitions)
    now_ms = time.time_ns() // 1_000_000
    lost = double = 0
    mismatches: list[str] = []
    try:
        board = build_board(await reader.board(now_ms=now_ms), top_n=10, title="", place="")
        for name in EXACT:
            diff = board["totals"][name] - truth["totals"][name]
            if diff:
                mismatches.append(f"totals.{name}: {diff:+d}")
        unique, want_unique = board["totals"]["unique_viewers"], truth["totals"]["unique_viewers"]
        if not hll_close(unique, want_unique):
            mismatches.append(f"totals.unique_viewers {unique} against {want_unique}, beyond "
                              f"the HyperLogLog error")
        for sid, want in truth["sessions"].items():
            page = build_session(await reader.session(sid, now_ms=now_ms))
            for name in (*EXACT, "peak_viewers", "peak_at"):
                if page[name] != want[name]:
                    mismatches.append(f"{sid}.{name}: {page[name]} != {want[name]}")
            for name in ("views", "orders"):
                diff = page[name] - want[name]
                lost += max(0, -diff)
                double += max(0, diff)
    finally:
        await redis.aclose()
    return Drift(lost=lost, double_counted=double, mismatches=mismatches)


async def read_dead_letters(settings: Settings, expected: int) -> list[ConsumerRecord[Any, Any]]:
    """Every record on the dead-letter topic (reads a little past ``expected`` for extras)."""
    consumer = AIOKafkaConsumer(settings.dlq_topic, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + seconds(60)
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got = [r for part in batch.values() for r in part]
            records += got
            if len(records) >= expected and not got:
                break
    finally:
        await consumer.stop()
    return records
