"""Run ocop-live processes as subprocesses against the test stack, and wait on them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from common.settings import Settings
from store.client import redis_client
from store.keys import Keys
from tests.conftest import seconds, settings_env


def spawn(settings: Settings, role: str, log_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``ocop-live <role>`` in its own process group; wait until /healthz answers."""
    log_path = log_dir / f"{role}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", role],
            env=settings_env(settings), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    port = {"worker": settings.worker_metrics_port,
            "ingest": settings.ingest_port}.get(role, settings.web_port)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, log_path)
    except AssertionError:
        stop(proc, signal.SIGKILL)
        raise
    return proc, log_path


def gone(pid: int) -> bool:
    """Whether no process has ``pid`` any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal the process group and wait; escalate to SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=seconds(30))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def running(settings: Settings, role: str, log_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``ocop-live <role>`` running until the block exits (its log kept in ``log_dir``)."""
    proc, _ = spawn(settings, role, log_dir)
    try:
        yield proc
    finally:
        stop(proc)


def wait_http(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until ``url`` answers 200, failing early with the log if the process died."""
    deadline = time.monotonic() + seconds(90)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text()[-4000:]
            raise AssertionError(f"process exited {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in time:\n{log_path.read_text()[-4000:]}")


async def end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """Last offset of every non-empty partition of ``topics``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): end - 1 for tp, end in ends.items() if end > 0}


async def wait_caught_up(settings: Settings, timeout_s: float) -> None:
    """Wait until Redis records every input message as applied."""
    targets = await end_offsets(settings, [settings.views_topic, settings.orders_topic])
    keys = Keys(settings.key_prefix)
    redis = redis_client(settings, decode_responses=True)
    deadline = time.monotonic() + seconds(timeout_s)
    try:
        while True:
            lagging = {}
            for (topic, partition), last in targets.items():
                stored = await redis.hget(keys.offsets(partition), topic)
                if stored is None or int(stored) < last:
                    lagging[topic, partition] = (stored, last)
            if not lagging:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"worker did not catch up: {lagging}")
            await asyncio.sleep(0.25)
    finally:
        await redis.aclose()
