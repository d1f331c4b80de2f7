"""LocalStack: bring Kafka, redis-server and optionally Prometheus up and down in a run folder."""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from devtools.stack import kafka, ports, prometheus, redis
from devtools.stack.ports import LOOPBACK, StackError
from devtools.stack.service import Service, alive, stop_pids

_STATE_VERSION = 1


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
    prometheus_port: int | None = None

    def env(self) -> dict[str, str]:
        """Return the ``OCOP_*`` environment variables that point a process at this stack."""
        env = {
            "OCOP_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "OCOP_REDIS_URL": self.redis_url,
            "OCOP_WEB_PORT": str(self.web_port),
            "OCOP_WORKER_METRICS_PORT": str(self.worker_metrics_port),
            "OCOP_TOKEN_SECRET": self.token_secret,
        }
        if self.prometheus_url is not None:
            env["OCOP_PROMETHEUS_URL"] = self.prometheus_url
        return env

    @property
    def web_url(self) -> str:
        """Return the URL the web process serves on."""
        return f"http://{LOOPBACK}:{self.web_port}/"

    @property
    def prometheus_url(self) -> str | None:
        """Return the local Prometheus URL, or None if this stack never ran one."""
        return None if self.prometheus_port is None else prometheus.url(self.prometheus_port)


@dataclass(frozen=True)
class StackStatus:
    """A snapshot of the stack: ``LocalStack(run_dir=d).status().kafka_running``."""

    addresses: StackAddresses | None
    kafka_running: bool
    redis_running: bool
    prometheus_running: bool = False


@dataclass(frozen=True)
class _State:
    kafka_version: str
    kafka_port: int
    controller_port: int
    redis_port: int
    web_port: int
    worker_metrics_port: int
    token_secret: str
    # Picked the first time the stack runs with Prometheus; older run folders lack it.
    prometheus_port: int | None = None

    def ports(self) -> list[int]:
        chosen = [self.kafka_port, self.controller_port, self.redis_port, self.web_port,
                  self.worker_metrics_port]
        return chosen if self.prometheus_port is None else [*chosen, self.prometheus_port]

    def addresses(self) -> StackAddresses:
        return StackAddresses(
            kafka_bootstrap=f"{LOOPBACK}:{self.kafka_port}",
            redis_url=redis.url(self.redis_port),
            web_port=self.web_port,
            worker_metrics_port=self.worker_metrics_port,
            token_secret=self.token_secret,
            prometheus_port=self.prometheus_port,
        )


class LocalStack:
    """The real Kafka broker and redis-server (and Prometheus, on request) in one run folder.

    Usage::

        stack = LocalStack(run_dir=Path(".run"))
        addrs = stack.up(with_prometheus=True)   # idempotent; reuses ports, secret, storage
        ...
        stack.down()                             # idempotent
    """

    def __init__(
        self,
        *,
        run_dir: Path,
        cache_dir: Path | None = None,
        kafka_version: str = "4.0.0",
        rules_file: Path | None = None,
        log: Callable[[str], None] = _log_to_stderr,
    ) -> None:
        self.run_dir = run_dir.expanduser().resolve()
        self.cache_dir = (cache_dir or kafka.default_cache_dir()).expanduser().resolve()
        self.kafka_version = kafka_version
        # None: deploy/prometheus/alerts.yml of the source tree (see prometheus.py).
        self.rules_file = rules_file
        self._log = log
        self._state_file = self.run_dir / "stack.json"
        self._kafka_dir = self.run_dir / "kafka"
        self._redis_dir = self.run_dir / "redis"
        self._prometheus_dir = self.run_dir / "prometheus"
        self._kafka = Service(
            "kafka", self._kafka_dir, lambda cmd: kafka.pid_matches(cmd, self._kafka_dir)
        )
        self._kafka.logs.append(self._kafka_dir / "server.log")
        self._redis = Service("redis", self._redis_dir, self._redis_matches)
        self._redis.logs.append(self._redis_dir / "redis.log")
        self._prometheus = Service(
            "prometheus",
            self._prometheus_dir,
            lambda cmd: prometheus.pid_matches(cmd, self._prometheus_dir / "prometheus.yml"),
        )

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

    def _save_state(self, state: _State) -> _State:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".json.tmp")
        # The file holds the token secret: readable by the owner only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"version": _STATE_VERSION, **asdict(state)}, handle, indent=2)
        os.replace(tmp, self._state_file)
        return state

    def _create_state(self) -> _State:
        kafka_port, controller_port, redis_port, web_port, metrics_port = ports.pick_free_ports(5)
        state = self._save_state(_State(
            kafka_version=self.kafka_version,
            kafka_port=kafka_port,
            controller_port=controller_port,
            redis_port=redis_port,
            web_port=web_port,
            worker_metrics_port=metrics_port,
            token_secret=secrets.token_urlsafe(32),
        ))
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

    def prometheus_pid(self) -> int | None:
        """Return the running Prometheus' pid, or None."""
        return self._prometheus.pid()

    def status(self) -> StackStatus:
        """Return the saved addresses (None if never up) and which processes run."""
        state = self._read_state()
        return StackStatus(
            addresses=state.addresses() if state else None,
            kafka_running=self.kafka_pid() is not None,
            redis_running=self.redis_pid() is not None,
            prometheus_running=self.prometheus_pid() is not None,
        )

    def up(self, *, timeout_s: float = 120.0, with_prometheus: bool = False) -> StackAddresses:
        """Start whatever is not running and wait until every service answers."""
        deadline = time.monotonic() + timeout_s
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with kafka.file_lock(self.run_dir / "stack.lock"):
            state = self._read_state() or self._create_state()
            if state.kafka_version != self.kafka_version:
                raise StackError(
                    f"{self.run_dir} holds Kafka {state.kafka_version} storage, not "
                    f"{self.kafka_version}; run `stack down` and delete {self.run_dir}"
                )
            if with_prometheus and state.prometheus_port is None:
                (port,) = ports.pick_free_ports(1, exclude=state.ports())
                state = self._save_state(replace(state, prometheus_port=port))
            prepared = self._prepare_prometheus(state) if with_prometheus else None
            kafka_pid, redis_pid = self.kafka_pid(), self.redis_pid()
            prometheus_pid = self.prometheus_pid() if with_prometheus else None
            # Ports of the services about to start must be free.
            wanted = [] if kafka_pid else [state.kafka_port, state.controller_port]
            wanted += [] if redis_pid else [state.redis_port]
            if prepared is not None and prometheus_pid is None and state.prometheus_port:
                wanted.append(state.prometheus_port)
            self._check_ports(wanted)
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
                if prepared is not None:
                    started += self._run_prometheus(state, *prepared, prometheus_pid, deadline)
            except StackError:
                # Half-started servers would hold the ports and confuse the next `up`.
                self._log(f"startup failed; stopping what this attempt started in {self.run_dir}")
                stop_pids([p for p in started if alive(p)], 10.0, self._log)
                raise
        addrs = state.addresses()
        self._log(f"stack up: Kafka {addrs.kafka_bootstrap}, Redis {addrs.redis_url}")
        if with_prometheus:
            base = addrs.prometheus_url
            self._log(f"Prometheus {base}/ (alerts as JSON: {base}/api/v1/alerts)")
        return addrs

    def _check_ports(self, wanted: list[int]) -> None:
        busy = ports.taken_ports(wanted)
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

    def _prepare_prometheus(self, state: _State) -> tuple[str, Path]:
        """Find the tools and rules and write a config promtool accepts, before any start."""
        rules = self.rules_file or prometheus.repo_rules_file()
        if rules is None or not rules.is_file():
            raise StackError(
                f"alert rules not found ({rules or prometheus.RULES_RELATIVE} is missing, e.g. "
                "in an install without the source tree); pass --rules PATH to "
                f"{prometheus.RULES_RELATIVE.name} of the ocop-live repository"
            )
        tools = prometheus.ensure_tools(self._log)
        config = prometheus.write_config(
            self._prometheus_dir,
            worker_metrics_port=state.worker_metrics_port,
            web_port=state.web_port,
            rules_file=rules,
        )
        prometheus.check_config(tools.promtool, config)
        return tools.prometheus, config

    def _run_prometheus(
        self, state: _State, binary: str, config: Path, pid: int | None, deadline: float
    ) -> list[int]:
        """Start Prometheus, or make a running one reload; return the pids started."""
        port = state.prometheus_port
        if port is None:
            raise StackError(f"{self._state_file} has no Prometheus port; delete the run folder")
        if pid is not None:
            # A running Prometheus rereads its config and rules on SIGHUP.
            os.kill(pid, signal.SIGHUP)
            self._log(f"Prometheus (pid {pid}) reloaded {config}")
            return []
        pid = self._prometheus.start(prometheus.command(binary, config, port=port))
        self._log(f"started Prometheus (pid {pid}) on {LOOPBACK}:{port}; config {config}")
        self._wait_ready(
            self._prometheus, pid, deadline, lambda: prometheus.prometheus_answers(port)
        )
        return [pid]

    def _wait_ready(
        self, service: Service, pid: int, deadline: float, answers: Callable[[], bool]
    ) -> None:
        began = time.monotonic()
        while True:
            if not alive(pid):
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

    def down(self, *, timeout_s: float = 30.0) -> None:
        """Stop every server (SIGTERM, then SIGKILL after ``timeout_s``); a no-op if stopped."""
        if not self.run_dir.is_dir():
            return
        with kafka.file_lock(self.run_dir / "stack.lock"):
            running = [(s, s.pid()) for s in (self._prometheus, self._kafka, self._redis)]
            pids = [pid for _, pid in running if pid is not None]
            for service, pid in running:
                if pid is not None:
                    self._log(f"stopping {service.name} (pid {pid})")
            stop_pids(pids, timeout_s, self._log)
            for service, _ in running:
                service.pid_file.unlink(missing_ok=True)
        if pids:
            self._log(f"stack down; data kept in {self.run_dir}")
