"""The real ``redis-server`` for the local stack: config, launch, readiness."""

from __future__ import annotations

from pathlib import Path

import redis

from devtools.stack.ports import LOOPBACK


def url(port: int) -> str:
    """Return the redis URL (database 0) for the server on ``port``."""
    return f"redis://{LOOPBACK}:{port}/0"


def _quote(value: str) -> str:
    # redis.conf takes double-quoted strings with backslash escapes, so paths with spaces
    # or quotes survive.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_config(redis_dir: Path, *, port: int) -> Path:
    """Write ``redis.conf`` for a loopback-only, append-only server into ``redis_dir``."""
    redis_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"port {port}",
        f"bind {LOOPBACK}",
        "protected-mode yes",
        "daemonize no",
        f"dir {_quote(str(redis_dir))}",
        f"logfile {_quote(str(redis_dir / 'redis.log'))}",
        # Every write reaches the AOF within a second, so a killed server loses at most
        # one second of state; RDB snapshots would only duplicate that work.
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        # The offset fence needs every key kept: never evict (store/server.py).
        "maxmemory-policy noeviction",
    ]
    config = redis_dir / "redis.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


def command(redis_server: str, config: Path) -> list[str]:
    """Return the argv that runs the server configured by ``config``."""
    return [redis_server, str(config)]


def pid_matches(cmdline: str, config: Path, port: int) -> bool:
    """Return True if a process command line is the server of ``config`` on ``port``."""
    if "redis-server" not in cmdline:
        return False
    # redis rewrites its title to "redis-server 127.0.0.1:PORT" once it has started.
    return str(config) in cmdline or f"{LOOPBACK}:{port}" in cmdline


def redis_answers(port: int, timeout_s: float = 1.0) -> bool:
    """Return True if the server on ``port`` answers PING."""
    client = redis.Redis.from_url(
        url(port), socket_connect_timeout=timeout_s, socket_timeout=timeout_s
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()
