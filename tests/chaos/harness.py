"""Fault-injection harness: a supervised pool of workers and a fair sent in chunks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.settings import Settings
from consumers.topics import ensure_topics
from devtools.simulator.fair import Fair, FairConfig, generate
from devtools.simulator.producer import KafkaTarget, send_fair
from devtools.simulator.truth import compute_truth
from devtools.stack.ports import pick_free_ports
from tests.expectations import Drift, drift_from_truth, read_dead_letters, sample_fair_catalog
from tests.processes import spawn, stop, wait_caught_up

# CI runs the short form; `make chaos` sets OCOP_CHAOS=full for the sizes.
FULL = os.environ.get("OCOP_CHAOS", "") == "full"


class WorkerPool:
    """Workers of one consumer group; a supervisor restarts any that die.

    Usage::

        pool = WorkerPool(settings, log_dir)   # static=True: each worker keeps a name
        pool.start()
        pool.kill(0)             # kill -9; the supervisor brings it back
        await pool.supervise()   # (a task) restarts dead workers every half second
    """

    def __init__(self, settings: Settings, log_dir: Path, *, static: bool = False) -> None:
        self.settings = settings
        self.log_dir = log_dir
        # Static membership: worker i is always OCOP_INSTANCE_ID=<app id>-i, restarts too.
        self.static = static
        self.workers: dict[int, tuple[subprocess.Popen[bytes], Settings]] = {}
        self.restarts = 0
        self._next = 0
        self._wanted: set[int] = set()
        # The supervisor runs in a thread while tests call in too: one spawner at a time,
        # or two replacements race for one port and one of them is lost track of.
        self._lock = threading.Lock()

    def start(self) -> int:
        """Start one more worker (its own metrics port); return its index."""
        (port,) = pick_free_ports(1)
        with self._lock:
            index, self._next = self._next, self._next + 1
            update: dict[str, object] = {"worker_metrics_port": port}
            if self.static:
                update["instance_id"] = f"{self.settings.app_id}-{index}"
            settings = self.settings.model_copy(update=update)
            self.workers[index] = (spawn(settings, "worker", self.log_dir)[0], settings)
            self._wanted.add(index)
        return index

    def kill(self, index: int) -> None:
        """kill -9 one worker's process group (it stays wanted: the supervisor restarts it)."""
        proc, _ = self.workers[index]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def retire(self, index: int) -> None:
        """Scale down: stop one worker cleanly and do not restart it."""
        with self._lock:
            self._wanted.discard(index)
            proc = self.workers.pop(index)[0]
        stop(proc)

    def restart_dead(self) -> None:
        """Restart every wanted worker whose process has exited."""
        with self._lock:
            for index in sorted(self._wanted):
                proc, settings = self.workers[index]
                if proc.poll() is not None:
                    try:
                        self.workers[index] = (spawn(settings, "worker", self.log_dir)[0],
                                               settings)
                    except AssertionError:
                        # It died before it served (its log is kept): a service manager
                        # tries again, and so does the next round.
                        continue
                    self.restarts += 1

    async def wait_alive(self, index: int) -> None:
        """Wait until the supervisor has brought worker ``index`` back."""
        while self.workers[index][0].poll() is not None:
            await asyncio.sleep(0.1)

    async def supervise(self) -> None:
        """Restart dead workers until cancelled (what systemd or compose would do)."""
        while True:
            await asyncio.to_thread(self.restart_dead)
            await asyncio.sleep(0.5)

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            self._wanted.clear()
            procs = [proc for proc, _ in self.workers.values()]
            self.workers.clear()
        for proc in procs:
            stop(proc)


@dataclass
class Run:
    """One scenario's fair, sent in chunks so faults land while events flow."""

    settings: Settings
    fair: Fair
    chunks: list[Fair]
    target: KafkaTarget
    faults: int = 0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def plan(cls, settings: Settings, *, events: int, chunks: int, seed: int) -> Run:
        """Generate the fair (30 simulated minutes ending now) and split it."""
        now_ms = time.time_ns() // 1_000_000
        span = 30 * 60_000
        fair = generate(sample_fair_catalog(),
                        FairConfig(start_ms=now_ms - span, span_ms=span, events=events,
                                   seed=seed))
        size = -(-len(fair.messages) // chunks)
        parts = [Fair(fair.config, fair.catalog, fair.messages[i:i + size])
                 for i in range(0, len(fair.messages), size)]
        target = KafkaTarget(settings.kafka_bootstrap, settings.views_topic,
                             settings.orders_topic, settings.sessions_topic)
        return cls(settings, fair, parts, target)

    def send_chunks(self) -> Iterator[Any]:
        """Coroutines sending each chunk in turn (the catalog goes with the first)."""
        for i, chunk in enumerate(self.chunks):
            target = self.target if i == 0 else KafkaTarget(
                self.target.bootstrap, self.target.views_topic, self.target.orders_topic, None)
            yield send_fair(chunk, target, paced=False, progress=False)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a scenario reports: the issue's table row."""

    scenario: str
    events: int
    faults: int
    restarts: int
    drift: Drift
    dead_letters_unique: int
    dead_letters_expected: int
    recover_s: float

    def row(self) -> str:
        """One Markdown table row."""
        return (f"| {self.scenario} | {self.events:,} | {self.faults} | {self.restarts} | "
                f"{self.drift.lost} | {self.drift.double_counted} | "
                f"{self.dead_letters_unique}/{self.dead_letters_expected} | "
                f"{self.recover_s:.1f} s |")


async def finish(run: Run, pool: WorkerPool | None, scenario: str, *, truth: dict[str, Any],
                 expected_letters: int, faults_done_at: float) -> Outcome:
    """Wait for the workers to catch up, then measure drift and dead letters."""
    try:
        # Under pytest's own 600 s: a stuck worker fails with what it was doing.
        await wait_caught_up(run.settings, timeout_s=420)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_log_tails(pool)}") from None
    recover_s = time.monotonic() - faults_done_at
    drift = await drift_from_truth(run.settings, truth)
    letters = await read_dead_letters(run.settings, expected_letters)
    # Dead letters are at-least-once (a kill between publishing them and recording the
    # offsets re-publishes): count each source record once.
    unique = {
        tuple(dict(r.headers).get(name) for name in (
            "source_topic", "source_partition", "source_offset", "source_index"))
        for r in letters
    }
    if run.settings.redis_cluster:
        scenario += " [cluster stack]"
    outcome = Outcome(scenario, run.fair.config.events, run.faults,
                      pool.restarts if pool else 0, drift, len(unique), expected_letters,
                      recover_s)
    report = Path(os.environ.get("OCOP_CHAOS_REPORT", "/tmp/ocop-chaos-report.md"))  # noqa: S108
    with report.open("a", encoding="utf-8") as out:
        out.write(outcome.row() + "\n")
    return outcome


def _log_tails(pool: WorkerPool | None, lines: int = 40) -> str:
    """The last lines of every worker log of the pool (CI keeps no files)."""
    if pool is None:
        return ""
    tails = []
    for log in sorted(pool.log_dir.glob("worker-*.log")):
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
        tails.append(f"--- {log.name}\n" + "\n".join(text[-lines:]))
    return "\n".join(tails)


@contextlib.asynccontextmanager
async def supervised(pool: WorkerPool) -> AsyncIterator[WorkerPool]:
    """The pool with its supervisor running; everything stopped on exit."""
    task = asyncio.create_task(pool.supervise())
    try:
        yield pool
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        pool.close()


def check_exact(outcome: Outcome) -> None:
    """Nothing lost, nothing counted twice, every bad record dead-lettered once."""
    assert outcome.drift.mismatches == [], outcome.drift.mismatches
    assert (outcome.drift.lost, outcome.drift.double_counted) == (0, 0)
    assert outcome.dead_letters_unique == outcome.dead_letters_expected


async def prepare(make_settings: Callable[..., Settings], events: int, chunks: int,
                   seed: int, *, partitions: int = 4,
                   **overrides: Any) -> tuple[Run, dict[str, Any]]:
    """A fair on ``partitions`` partitions of fresh topics, and its ground truth."""
    settings = make_settings(partitions=partitions, **overrides)
    await ensure_topics(settings)
    run = Run.plan(settings, events=events, chunks=chunks, seed=seed)
    return run, compute_truth(run.fair.messages, run.fair.catalog, seed=seed)
