"""The real ``redis-server`` for the local stack: config, launch, readiness, cluster."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import redis

from devtools.stack.ports import LOOPBACK, StackError


def url(port: int) -> str:
    """Return the redis URL (database 0) for the server on ``port``."""
    return f"redis://{LOOPBACK}:{port}/0"


def _quote(value: str) -> str:
    # redis.conf takes double-quoted strings with backslash escapes, so paths with spaces
    # or quotes survive.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_config(redis_dir: Path, *, port: int, cluster_port: int | None = None) -> Path:
    """Write ``redis.conf`` for a loopback-only, append-only server into ``redis_dir``.

    With ``cluster_port`` the server is a Redis Cluster node whose cluster bus listens there.
    """
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
    if cluster_port is not None:
        lines += [
            "cluster-enabled yes",
            # The node's view of the cluster, rewritten by the server: a restart rejoins.
            "cluster-config-file nodes.conf",
            # Said explicitly: the default (port + 10000) would fall in the ephemeral range.
            f"cluster-port {cluster_port}",
            # A master that stops answering for 5 s is failed over to its replica.
            "cluster-node-timeout 5000",
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


SLOTS = 16384


def create_cluster(
    redis_cli: str, ports: list[int], *, timeout_s: float, log: Callable[[str], None]
) -> None:
    """Join fresh nodes into one cluster: the first half masters, one replica each."""
    nodes = [f"{LOOPBACK}:{port}" for port in ports]
    log(f"creating a Redis Cluster of {len(ports) // 2} masters and their replicas: "
        + " ".join(nodes))
    args = [redis_cli, "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv built here, no shell
            args, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(
            f"`redis-cli --cluster create` on {', '.join(nodes)} took over {timeout_s:.0f}s"
        ) from exc
    if done.returncode != 0 or f"All {SLOTS} slots covered" not in done.stdout:
        output = (done.stdout + done.stderr).strip().splitlines()[-20:]
        raise StackError(
            f"`redis-cli --cluster create` on {', '.join(nodes)} failed (exit "
            f"{done.returncode}); run `stack down` and delete the run folder to start clean. "
            "Output:\n" + "\n".join(output)
        )


def _client(port: int, timeout_s: float) -> redis.Redis:
    return redis.Redis.from_url(
        url(port), socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
        decode_responses=True,
    )


def cluster_info(port: int, timeout_s: float = 1.0) -> dict[str, str]:
    """Return the node's ``CLUSTER INFO`` fields, or {} if it does not answer."""
    client = _client(port, timeout_s)
    try:
        text = client.cluster("INFO")
    except (redis.RedisError, OSError):
        return {}
    finally:
        client.close()
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    pairs = (line.split(":", 1) for line in str(text).splitlines() if ":" in line)
    return {key: value.strip() for key, value in pairs}


def is_fresh(port: int) -> bool:
    """Return True if the node knows only itself and serves no slot (never joined)."""
    info = cluster_info(port)
    return info.get("cluster_known_nodes") == "1" and info.get("cluster_slots_assigned") == "0"


def cluster_ready(ports: list[int], timeout_s: float = 1.0) -> bool:
    """Return True if every node sees all slots served by half the nodes, each replicated.

    Every node is asked, not one: after a create or a restart the nodes learn the
    cluster's shape one gossip round after another.
    """
    masters = len(ports) // 2
    for port in ports:
        info = cluster_info(port, timeout_s)
        if (info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(SLOTS)
                or info.get("cluster_known_nodes") != str(len(ports))
                or info.get("cluster_size") != str(masters)):
            return False
        client = _client(port, timeout_s)
        try:
            replication = client.info("replication")
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()
        # A master without its replica, or a replica still syncing, is not ready yet.
        if replication.get("role") == "master" and int(replication["connected_slaves"]) < 1:
            return False
        if replication.get("role") == "slave" and replication["master_link_status"] != "up":
            return False
    return True


def cluster_nodes(port: int, timeout_s: float = 1.0) -> str:
    """Return the node's ``CLUSTER NODES`` lines (address, role, master, slots), for errors."""
    client = _client(port, timeout_s)
    try:
        text = client.cluster("NODES")
    except (redis.RedisError, OSError) as exc:
        return f"{LOOPBACK}:{port} does not answer CLUSTER NODES ({exc})"
    finally:
        client.close()
    return str(text)
