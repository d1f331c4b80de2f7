"""Faust floor: a do-nothing agent with the worker's batch settings on the same topics.

``python -m bench.scenarios.floor --out FILE`` with the scenario's ``OCOP_*`` environment
(only bootstrap, topics, partitions, app id, batch and fetch settings are used). The
agent takes batches with ``take_events(batch_max, batch_within_s)`` exactly as
``streams/app.py`` does, with the same fetch tuning, and only counts them; once
``--messages`` have passed it writes the measured window to ``--out`` and waits to be
stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import faust

from bench.context import Context
from bench.prefill import Prefilled
from bench.scenarios.reader import cpu_now
from bench.services import Service, ServiceError, python_argv, settings_env
from bench.throughput import Throughput
from bench.topics import scenario_settings
from common.eventloop import use_uvloop
from common.settings import Settings, load_settings
from streams.tuning import consumer_app

_TIMEOUT_S = 900.0


def build_app(settings: Settings, *, expected: int, out: Path) -> faust.App:
    """A faust app whose one agent counts messages in batches, like the real worker."""
    app = consumer_app(settings, datadir_prefix="ocop-bench", web_enabled=False)
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                           "key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(settings.views_topic, settings.orders_topic, **raw)
    progress: dict[str, float] = {"done": 0}

    @app.agent(source, name="floor")
    async def floor(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            progress["done"] += len(events)
            if "t0" not in progress:
                progress.update(t0=time.perf_counter(), c0=cpu_now(), m0=progress["done"])
            elif progress["done"] >= expected and not out.exists():
                window = Throughput(int(progress["done"] - progress["m0"]), 0.0,
                                    time.perf_counter() - progress["t0"],
                                    cpu_now() - progress["c0"])
                out.write_text(json.dumps(window.to_json()))

    del floor
    return app


def main() -> None:
    """Command-line entry: run the floor app as a faust worker."""
    use_uvloop()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    app = build_app(load_settings(), expected=args.messages, out=args.out)
    faust.Worker(app, loglevel="warning").execute_from_commandline()


if __name__ == "__main__":
    main()


async def measure(ctx: Context, prefilled: Prefilled, *, source_tag: str) -> Throughput:
    """Run the floor app in a process of its own until it reports its window."""
    settings = scenario_settings(ctx.addrs, ctx.tag("floor"), partitions=ctx.config.partitions,
                                 topics_of=source_tag)
    out = ctx.log_dir / f"{settings.app_id}.json"
    argv = python_argv("bench.scenarios.floor", "--messages", str(prefilled.messages),
                       "--out", str(out))
    service = Service.start("floor", argv, env=settings_env(settings), log_dir=ctx.log_dir)
    try:
        deadline = time.monotonic() + _TIMEOUT_S
        while not out.exists():
            service.check_alive()
            if time.monotonic() > deadline:
                raise ServiceError(f"faust floor did not finish:\n{service.log_tail()}")
            await asyncio.sleep(0.1)
    finally:
        service.stop()
    done = Throughput.from_json(json.loads(out.read_text()))
    # The floor does not decode; it counts messages, each worth the topic's average events.
    return Throughput(done.messages, done.messages * prefilled.events_per_message,
                      done.seconds, done.cpu_s)
