"""LocalStack: bring the real Kafka broker and redis-server up and down in a run folder."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ocop_live.stack import kafka, ports, redis
from ocop_live.stack.ports import LOOPBACK, StackError

_STATE_VERSION = 1
# Our own Popen handles, so stopped children are reaped rather than left as zombies that
# still look alive to os.kill(pid, 0).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _log_to_stderr(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class StackAddresses:
    """Where the local services listen, and the per-run-folder secret.

    Usage::

        addrs = LocalStack(run_dir=Path(".run")).up()
        os.environ.update(addrs.env())
    """

    kafka_bootstrap: str
    redis_url: str
    web_port: int
    worker_metrics_port: int
    token_secret: str

    def env(self) -> dict[str, str]:
        """Return the ``OCOP_*`` environment variables that point a process at this stack."""
        return {
            "OCOP_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "OCOP_REDIS_URL": self.redis_url,
            "OCOP_WEB_PORT": str(self.web_port),
            "OCOP_WORKER_METRICS_PORT": str(self.worker_metrics_port),
            "OCOP_TOKEN_SECRET": self.token_secret,
        }

    @property
    def web_url(self) -> str:
        """Return the URL the web process serves on."""
        return f"http://{LOOPBACK}:{self.web_port}/"


@dataclass(frozen=True)
class StackStatus:
    """A snapshot of the stack: ``LocalStack(run_dir=d).status().kafka_running``."""

    addresses: StackAddresses | None
    kafka_running: bool
    redis_running: bool


@dataclass(frozen=True)
class _State:
    kafka_version: str
    kafka_port: int
    controller_port: int
    redis_port: int
    web_port: int
    worker_metrics_port: int
    token_secret: str

    def addresses(self) -> StackAddresses:
        return StackAddresses(
            kafka_bootstrap=f"{LOOPBACK}:{self.kafka_port}",
            redis_url=redis.url(self.redis_port),
            web_port=self.web_port,
            worker_metrics_port=self.worker_metrics_port,
            token_secret=self.token_secret,
        )


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # A zombie has exited; only its exit status is left to collect.
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _alive(pid: int) -> bool:
    # Reap every exited child first: a zombie still answers os.kill(pid, 0).
    for child_pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[child_pid]
    if pid in _CHILDREN:
        return True  # poll() is authoritative for our own children; /proc may lag behind
    return _cmdline(pid) is not None


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _tail(path: Path, lines: int = 20) -> list[str]:
    try:
        with path.open(errors="replace") as handle:
            return [line.rstrip("\n") for line in collections.deque(handle, maxlen=lines)]
    except OSError:
        return []


class _Service:
    """One supervised server process: its folder, pid file, logs and identity check."""

    def __init__(self, name: str, folder: Path, matches: Callable[[str], bool]) -> None:
        self.name = name
        self.folder = folder
        self.pid_file = folder / f"{name}.pid"
        self.stdout_log = folder / "stdout.log"
        self.logs: list[Path] = [self.stdout_log]
        self._matches = matches

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        # A stale pid file (after a reboot or a crash) may name an unrelated process now.
        if not _alive(pid):
            return None
        cmdline = _cmdline(pid)
        return pid if cmdline is not None and self._matches(cmdline) else None

    def start(self, argv: list[str]) -> int:
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
        parts = []
        for path in self.logs:
            lines = _tail(path)
            if lines:
                parts.append(f"--- last {len(lines)} lines of {path} ---\n" + "\n".join(lines))
        return "\n".join(parts) if parts else f"(no log output in {self.folder})"


class LocalStack:
    """The real Kafka broker and redis-server, kept in one run folder.

    Usage::

        stack = LocalStack(run_dir=Path(".run"))
        addrs = stack.up()      # idempotent; reuses ports, secret and storage
        ...
        stack.down()            # idempotent
    """

    def __init__(
        self,
        *,
        run_dir: Path,
        cache_dir: Path | None = None,
        kafka_version: str = "4.0.0",
        log: Callable[[str], None] = _log_to_stderr,
    ) -> None:
        self.run_dir = run_dir.expanduser().resolve()
        self.cache_dir = (cache_dir or kafka.default_cache_dir()).expanduser().resolve()
        self.kafka_version = kafka_version
        self._log = log
        self._state_file = self.run_dir / "stack.json"
        self._kafka_dir = self.run_dir / "kafka"
        self._redis_dir = self.run_dir / "redis"
        self._kafka = _Service(
            "kafka", self._kafka_dir, lambda cmd: kafka.pid_matches(cmd, self._kafka_dir)
        )
        self._kafka.logs.append(self._kafka_dir / "server.log")
        self._redis = _Service("redis", self._redis_dir, self._redis_matches)
        self._redis.logs.append(self._redis_dir / "redis.log")

    def _redis_matches(self, cmdline: str) -> bool:
        state = self._read_state()
        port = state.redis_port if state else 0
        return redis.pid_matches(cmdline, self._redis_dir / "redis.conf", port)

    def _read_state(self) -> _State | None:
        path = self._state_file
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StackError(f"cannot read {path} ({exc}); delete the run folder") from exc
        try:
            if raw.pop("version", None) != _STATE_VERSION:
                raise TypeError("unknown format version")
            return _State(**raw)
        except (TypeError, AttributeError) as exc:
            raise StackError(f"{path} is damaged ({exc}); delete the run folder") from exc

    def _create_state(self) -> _State:
        kafka_port, controller_port, redis_port, web_port, metrics_port = ports.pick_free_ports(5)
        state = _State(
            kafka_version=self.kafka_version,
            kafka_port=kafka_port,
            controller_port=controller_port,
            redis_port=redis_port,
            web_port=web_port,
            worker_metrics_port=metrics_port,
            token_secret=secrets.token_urlsafe(32),
        )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".json.tmp")
        # The file holds the token secret: readable by the owner only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"version": _STATE_VERSION, **asdict(state)}, handle, indent=2)
        os.replace(tmp, self._state_file)
        self._log(f"new run folder {self.run_dir}: ports and secret saved in {self._state_file}")
        return state

    def addresses(self) -> StackAddresses:
        """Return the saved addresses; raise StackError if the stack was never brought up."""
        state = self._read_state()
        if state is None:
            raise StackError(f"no stack in {self.run_dir}; run `stack up` first")
        return state.addresses()

    def kafka_pid(self) -> int | None:
        """Return the running broker's pid, or None."""
        return self._kafka.pid()

    def redis_pid(self) -> int | None:
        """Return the running redis-server's pid, or None."""
        return self._redis.pid()

    def status(self) -> StackStatus:
        """Return the saved addresses (None if never up) and which processes run."""
        state = self._read_state()
        return StackStatus(
            addresses=state.addresses() if state else None,
            kafka_running=self.kafka_pid() is not None,
            redis_running=self.redis_pid() is not None,
        )

    def up(self, *, timeout_s: float = 120.0) -> StackAddresses:
        """Start whatever is not running and wait until Kafka and Redis both answer."""
        deadline = time.monotonic() + timeout_s
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with kafka.file_lock(self.run_dir / "stack.lock"):
            state = self._read_state() or self._create_state()
            if state.kafka_version != self.kafka_version:
                raise StackError(
                    f"{self.run_dir} holds Kafka {state.kafka_version} storage, not "
                    f"{self.kafka_version}; run `stack down` and delete {self.run_dir}"
                )
            kafka_pid, redis_pid = self.kafka_pid(), self.redis_pid()
            self._check_ports(
                state, kafka_running=kafka_pid is not None, redis_running=redis_pid is not None
            )
            started: list[int] = []
            if kafka_pid is None:
                kafka_pid = self._start_kafka(state)
                started.append(kafka_pid)
            if redis_pid is None:
                redis_pid = self._start_redis(state)
                started.append(redis_pid)
            try:
                self._wait_ready(
                    self._redis, redis_pid, deadline, lambda: redis.redis_answers(state.redis_port)
                )
                self._wait_ready(
                    self._kafka, kafka_pid, deadline, lambda: kafka.kafka_answers(state.kafka_port)
                )
            except StackError:
                # Half-started servers would hold the ports and confuse the next `up`.
                self._log(f"startup failed; stopping what this attempt started in {self.run_dir}")
                self._stop_pids([p for p in started if _alive(p)], 10.0)
                raise
        addrs = state.addresses()
        self._log(f"stack up: Kafka {addrs.kafka_bootstrap}, Redis {addrs.redis_url}")
        return addrs

    def _check_ports(self, state: _State, *, kafka_running: bool, redis_running: bool) -> None:
        kafka_ports = [] if kafka_running else [state.kafka_port, state.controller_port]
        busy = ports.taken_ports(kafka_ports + ([] if redis_running else [state.redis_port]))
        if busy:
            raise StackError(
                f"saved port(s) {', '.join(map(str, busy))} on {LOOPBACK} are taken by another "
                f"process; run `stack down`, delete {self.run_dir} and run `stack up` again "
                "to pick new ports"
            )

    def _start_kafka(self, state: _State) -> int:
        java = ports.ensure_command("java", "openjdk-17-jre-headless", self._log)
        mvn = ports.ensure_command("mvn", "maven", self._log)
        libs = kafka.ensure_libs(self.cache_dir, self.kafka_version, mvn=mvn, log=self._log)
        config = kafka.write_config(
            self._kafka_dir, port=state.kafka_port, controller_port=state.controller_port
        )
        if not kafka.is_formatted(self._kafka_dir):
            kafka.format_storage(java, libs, config, log=self._log)
        pid = self._kafka.start(kafka.command(java, libs, self._kafka_dir))
        self._log(
            f"started Kafka (pid {pid}) on {LOOPBACK}:{state.kafka_port}; "
            f"log in {self._kafka_dir / 'server.log'}"
        )
        return pid

    def _start_redis(self, state: _State) -> int:
        redis_server = ports.ensure_command("redis-server", "redis-server", self._log)
        config = redis.write_config(self._redis_dir, port=state.redis_port)
        pid = self._redis.start(redis.command(redis_server, config))
        self._log(
            f"started Redis (pid {pid}) on {LOOPBACK}:{state.redis_port}; "
            f"log in {self._redis_dir / 'redis.log'}"
        )
        return pid

    def _wait_ready(
        self, service: _Service, pid: int, deadline: float, answers: Callable[[], bool]
    ) -> None:
        began = time.monotonic()
        while True:
            if not _alive(pid):
                raise StackError(
                    f"{service.name} (pid {pid}) exited during startup; fix the cause below, "
                    f"then run `stack up` again.\n{service.log_tail()}"
                )
            if answers():
                self._log(f"{service.name} answers (waited {time.monotonic() - began:.1f}s)")
                return
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{service.name} (pid {pid}) did not answer within the timeout; retry with a "
                    f"longer timeout or read the logs.\n{service.log_tail()}"
                )
            time.sleep(0.25)

    def _stop_pids(self, pids: list[int], timeout_s: float) -> None:
        for pid in pids:
            # The process may have exited on its own since it was looked up.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for pid in pids:
            if not _wait_gone(pid, max(0.0, deadline - time.monotonic())):
                self._log(f"pid {pid} ignored SIGTERM for {timeout_s:.0f}s; sending SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if not _wait_gone(pid, 10.0):
                    raise StackError(f"pid {pid} survived SIGKILL; check it with `ps -p {pid}`")

    def down(self, *, timeout_s: float = 30.0) -> None:
        """Stop both servers (SIGTERM, then SIGKILL after ``timeout_s``); a no-op if stopped."""
        if not self.run_dir.is_dir():
            return
        with kafka.file_lock(self.run_dir / "stack.lock"):
            running = [(s, s.pid()) for s in (self._kafka, self._redis)]
            pids = [pid for _, pid in running if pid is not None]
            for service, pid in running:
                if pid is not None:
                    self._log(f"stopping {service.name} (pid {pid})")
            self._stop_pids(pids, timeout_s)
            for service, _ in running:
                service.pid_file.unlink(missing_ok=True)
        if pids:
            self._log(f"stack down; data kept in {self.run_dir}")
