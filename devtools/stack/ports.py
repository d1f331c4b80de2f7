"""Host checks for the local stack: free loopback ports, required commands, StackError."""

from __future__ import annotations

import errno
import os
import random
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"
# Below the kernel's default ephemeral range (32768-60999), so outgoing connections made
# by other programs never land on a port we picked, and above the common service ports.
PORT_RANGE = range(20000, 30000)
_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


class StackError(RuntimeError):
    """Raised when the local stack cannot be prepared, started, stopped or read.

    The message always says what went wrong and what to do next::

        try:
            LocalStack(run_dir=Path(".run")).up()
        except StackError as exc:
            print(exc)
    """


def is_port_free(port: int, host: str = LOOPBACK) -> bool:
    """Return True if nothing listens on ``host:port`` so a server could bind it now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers (the JVM, redis) bind with SO_REUSEADDR; mirror that so sockets left in
        # TIME_WAIT by a server we just stopped do not count as "taken".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def ephemeral_range(path: Path = _EPHEMERAL_RANGE_FILE) -> range:
    """Return the kernel's ephemeral port range (the Linux default if it cannot be read)."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(low, high + 1)


def candidate_ports(port_range: range = PORT_RANGE, *, ephemeral: range | None = None) -> list[int]:
    """Return the ports of ``port_range`` outside the ephemeral range, in random order."""
    eph = ephemeral_range() if ephemeral is None else ephemeral
    ports = [p for p in port_range if not (eph.start <= p < eph.stop)]
    # Random order keeps parallel runs (several run folders at once) from racing for the
    # same first free port.
    random.shuffle(ports)
    return ports


def pick_free_ports(
    count: int,
    *,
    port_range: range = PORT_RANGE,
    exclude: Iterable[int] = (),
    host: str = LOOPBACK,
    ephemeral: range | None = None,
) -> list[int]:
    """Return ``count`` distinct ports in ``port_range`` that are free on ``host`` right now."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    skip = set(exclude)
    chosen: list[int] = []
    for port in candidate_ports(port_range, ephemeral=ephemeral):
        if len(chosen) == count:
            break
        if port in skip or not is_port_free(port, host):
            continue
        chosen.append(port)
    if len(chosen) < count:
        raise StackError(
            f"found only {len(chosen)} of {count} free ports on {host} in "
            f"{port_range.start}-{port_range.stop - 1} outside the ephemeral range; "
            "stop some local services or free ports in that range, then retry"
        )
    return chosen


def taken_ports(ports: Iterable[int], host: str = LOOPBACK) -> list[int]:
    """Return those of ``ports`` that something already listens on."""
    return [p for p in ports if not is_port_free(p, host)]


def ensure_command(
    command: str,
    package: str,
    log: Callable[[str], None],
    *,
    apt_options: Sequence[str] = (),
) -> str:
    """Return the path of ``command``, installing its Debian package first when root."""
    found = shutil.which(command)
    if found:
        return found
    install = " ".join(["apt-get install -y -qq", *apt_options, package])
    apt_get = shutil.which("apt-get")
    if os.geteuid() != 0 or apt_get is None:
        raise StackError(f"`{command}` is not on PATH; install it with: sudo {install}")
    log(f"`{command}` is missing; installing Debian package {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = [apt_get, "install", "-y", "-qq", *apt_options, package]
    # A fresh machine often has no package index yet; refresh only when that is the cause.
    if subprocess.run(argv, env=env, check=False).returncode != 0:  # noqa: S603 - fixed argv
        subprocess.run([apt_get, "update", "-qq"], env=env, check=False)  # noqa: S603 - fixed argv
        if subprocess.run(argv, env=env, check=False).returncode != 0:  # noqa: S603 - fixed argv
            raise StackError(f"installing {package} failed; run `{install}` and read its output")
    found = shutil.which(command)
    if not found:
        raise StackError(f"{package} is installed but `{command}` is still not on PATH")
    return found
