"""Supervised server processes of the local stack: start, identify, wait for, stop."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from devtools.stack.ports import StackError

# Our own Popen handles, so stopped children are reaped rather than left as zombies that
# still look alive to os.kill(pid, 0).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def cmdline(pid: int) -> str | None:
    """Return the command line of a live process, or None if it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # A zombie has exited; only its exit status is left to collect.
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def alive(pid: int) -> bool:
    """Return True if ``pid`` runs (our own children are asked directly, others via /proc)."""
    # Reap every exited child first: a zombie still answers os.kill(pid, 0).
    for child_pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[child_pid]
    if pid in _CHILDREN:
        return True  # poll() is authoritative for our own children; /proc may lag behind
    return cmdline(pid) is not None


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``pid`` to exit; return True if it did."""
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop_pids(pids: list[int], timeout_s: float, log: Callable[[str], None]) -> None:
    """SIGTERM every pid, then SIGKILL those still running after ``timeout_s``."""
    for pid in pids:
        # The process may have exited on its own since it was looked up.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        if not wait_gone(pid, max(0.0, deadline - time.monotonic())):
            log(f"pid {pid} ignored SIGTERM for {timeout_s:.0f}s; sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not wait_gone(pid, 10.0):
                raise StackError(f"pid {pid} survived SIGKILL; check it with `ps -p {pid}`")


def _tail(path: Path, lines: int = 20) -> list[str]:
    try:
        with path.open(errors="replace") as handle:
            return [line.rstrip("\n") for line in collections.deque(handle, maxlen=lines)]
    except OSError:
        return []


class Service:
    """One supervised server process: its folder, pid file, logs and identity check.

    Usage::

        redis = Service("redis", run_dir / "redis", lambda cmd: "redis-server" in cmd)
        pid = redis.pid() or redis.start(["redis-server", str(config)])
    """

    def __init__(self, name: str, folder: Path, matches: Callable[[str], bool]) -> None:
        self.name = name
        self.folder = folder
        self.pid_file = folder / f"{name}.pid"
        self.stdout_log = folder / "stdout.log"
        self.logs: list[Path] = [self.stdout_log]
        self._matches = matches

    def pid(self) -> int | None:
        """Return the pid of this service's running process, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        # A stale pid file (after a reboot or a crash) may name an unrelated process now.
        if not alive(pid):
            return None
        line = cmdline(pid)
        return pid if line is not None and self._matches(line) else None

    def start(self, argv: list[str]) -> int:
        """Launch ``argv`` in the service folder, detached, output appended to stdout.log."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.stdout_log.open("ab") as out:
            child = subprocess.Popen(  # noqa: S603 - argv is built by this package, no shell
                argv,
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _CHILDREN[child.pid] = child
        self.pid_file.write_text(f"{child.pid}\n")
        return child.pid

    def log_tail(self) -> str:
        """Return the last lines of every log of this service, for error messages."""
        parts = []
        for path in self.logs:
            lines = _tail(path)
            if lines:
                parts.append(f"--- last {len(lines)} lines of {path} ---\n" + "\n".join(lines))
        return "\n".join(parts) if parts else f"(no log output in {self.folder})"
