"""Websocket screens: board and host clients that time every message they receive.

Used in the harness (one board screen for freshness) and as the fan-out load generator,
a process of its own: ``python -m bench.screens --board-url ... --clients 1000 ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from bench.stats import percentile
from common.eventloop import use_uvloop
from common.tokens import HostTokens

_SERVER_TIME = re.compile(r'"server_time":(\d+)')
_TYPE = re.compile(r'"type":"(\w+)"')
_SEQ = re.compile(r'"seq":(\d+)')
_ACK_EVERY_S = 5.0
_CONNECT_BATCH = 50


def wall_ms() -> float:
    """Wall clock in milliseconds, the clock ``server_time`` is stamped with."""
    return time.time_ns() / 1_000_000


@dataclass(slots=True)
class Timings:
    """What a set of screens saw: delivery delays (receive - ``server_time``), in ms."""

    delivery_ms: list[float] = field(default_factory=list)
    freshness_ms: list[float] = field(default_factory=list)
    messages: int = 0
    recording: bool = True


async def board_screen(url: str, timings: Timings, *, newest: bool = False) -> None:
    """Read a board feed until cancelled; acks like a real screen, so it is not stale.

    With ``newest``, also record receive time minus the board's ``newest_event_ms``.
    """
    async with connect(url, max_size=None, open_timeout=60) as ws:
        acked = time.monotonic()
        seq = 0
        async for raw in ws:
            now = wall_ms()
            text = raw if isinstance(raw, str) else raw.decode()
            kind = _TYPE.search(text)
            stamp = _SERVER_TIME.search(text)
            found = _SEQ.search(text)
            seq = int(found.group(1)) if found else seq
            if timings.recording and kind and kind.group(1) == "change" and stamp:
                timings.messages += 1
                timings.delivery_ms.append(now - int(stamp.group(1)))
                if newest:
                    _record_newest(text, now, timings)
            if time.monotonic() - acked > _ACK_EVERY_S:
                acked = time.monotonic()
                await ws.send(json.dumps({"type": "ack", "seq": seq}))


def _record_newest(text: str, now: float, timings: Timings) -> None:
    changes = json.loads(text).get("changes", {})
    newest = changes.get("newest_event_ms")
    if isinstance(newest, int):
        timings.freshness_ms.append(now - newest)


async def host_screen(url: str, session_id: str, token: str, timings: Timings) -> None:
    """Read one host page's feed until cancelled."""
    async with connect(url, max_size=None, open_timeout=60) as ws:
        await ws.send(json.dumps({"type": "auth", "session": session_id, "token": token}))
        async for raw in ws:
            now = wall_ms()
            text = raw if isinstance(raw, str) else raw.decode()
            kind = _TYPE.search(text)
            stamp = _SERVER_TIME.search(text)
            if timings.recording and kind and kind.group(1) == "session" and stamp:
                timings.messages += 1
                timings.delivery_ms.append(now - int(stamp.group(1)))


async def host_feed_exists(url: str) -> bool:
    """Whether the web process serves ``/ws/host`` (an upgrade answered, not a 404)."""
    try:
        async with connect(url, open_timeout=10) as ws:
            await _close_quietly(ws)
            return True
    except (InvalidStatus, WebSocketException, OSError):
        return False


async def _close_quietly(ws: ClientConnection) -> None:
    with contextlib.suppress(WebSocketException):
        await ws.close()


def summary(values: list[float]) -> dict[str, object]:
    """Count, p50, p99, max and 1,001 quantiles (for plots) of ``values``."""
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values, default=float("nan")),
        "quantiles": [percentile(values, q / 10) for q in range(1001)] if values else [],
    }


async def _hold(args: argparse.Namespace, part: int, hosts: int, window: Any,
                ready: Any) -> dict[str, Any]:
    """One process' share of the screens: connect, record inside ``window``, report."""
    board, host = Timings(recording=False), Timings(recording=False)
    sessions: list[str] = json.loads(args.sessions) if args.sessions else []
    tokens = HostTokens(secret=args.secret) if hosts else None
    expires = int(wall_ms()) + 3_600_000
    tasks: list[asyncio.Task[None]] = []
    for i in range(part, args.clients, args.processes):
        if tokens is not None and i < hosts:
            sid = sessions[i % len(sessions)]
            tasks.append(asyncio.create_task(
                host_screen(args.host_url, sid, tokens.issue(sid, expires_at_ms=expires), host)))
        else:
            tasks.append(asyncio.create_task(board_screen(args.board_url, board)))
        if len(tasks) % _CONNECT_BATCH == 0:
            await asyncio.sleep(0.05)
    ready.put(part)
    while window[0] == 0:
        await asyncio.sleep(0.05)
    await asyncio.sleep(max(0.0, window[0] - time.time()))
    failed = sum(1 for t in tasks if t.done())
    board.recording = host.recording = True
    await asyncio.sleep(max(0.0, window[1] - time.time()))
    board.recording = host.recording = False
    dropped = sum(1 for t in tasks if t.done()) - failed
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"failed": failed, "dropped": dropped, "board_messages": board.messages,
            "host_messages": host.messages, "board_ms": board.delivery_ms,
            "host_ms": host.delivery_ms}


def _share(args: argparse.Namespace, part: int, hosts: int, window: Any, ready: Any,
           out: Any) -> None:
    use_uvloop()  # a spawned process starts with the default policy
    out.put(asyncio.run(_hold(args, part, hosts, window, ready)))


async def fan_out(args: argparse.Namespace) -> dict[str, object]:
    """Connect every screen, record for ``--seconds``, then report.

    The screens are split over ``--processes`` processes: one event loop reading a
    change for a thousand sockets would spend longer on the burst than the server does,
    and the delays measured would be the generator's own queue.
    """
    hosts = 0
    sessions: list[str] = json.loads(args.sessions) if args.sessions else []
    if args.host_url and sessions and await host_feed_exists(args.host_url):
        hosts = args.clients * args.host_share // 100
    spawn = multiprocessing.get_context("spawn")
    # Epoch seconds of the measured window, zero until every share has started.
    window = spawn.Array("d", 2, lock=False)
    ready, out = spawn.Queue(), spawn.Queue()
    parts = [spawn.Process(target=_share, args=(args, part, hosts, window, ready, out))
             for part in range(args.processes)]
    for proc in parts:
        proc.start()
    try:
        for _ in parts:
            await asyncio.to_thread(ready.get, True, 120)
        await asyncio.sleep(args.settle)
        measure_from = time.time() + 1.0
        measure_to = measure_from + args.seconds
        window[1], window[0] = measure_to, measure_from
        shares = [await asyncio.to_thread(out.get, True, args.seconds + args.settle + 120)
                  for _ in parts]
    finally:
        for proc in parts:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    board_ms = [v for share in shares for v in share["board_ms"]]
    host_ms = [v for share in shares for v in share["host_ms"]]
    return {
        "clients": args.clients, "board_clients": args.clients - hosts, "host_clients": hosts,
        "processes": args.processes,
        "failed_to_connect": sum(share["failed"] for share in shares),
        "dropped_while_measuring": sum(share["dropped"] for share in shares),
        "measure_from": measure_from, "measure_to": measure_to,
        "board_messages": sum(share["board_messages"] for share in shares),
        "host_messages": sum(share["host_messages"] for share in shares),
        "board": summary(board_ms), "host": summary(host_ms),
    }


def main() -> None:
    """Command-line entry of the fan-out load generator."""
    use_uvloop()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board-url", required=True)
    parser.add_argument("--host-url", default="")
    parser.add_argument("--sessions", default="", help="JSON list of session ids for hosts")
    parser.add_argument("--secret", default="")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--host-share", type=int, default=10, help="percent of clients")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=1,
                        help="processes to spread the screens over")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.write_text(json.dumps(asyncio.run(fan_out(args))))


if __name__ == "__main__":
    main()
