"""The processes a scenario starts: ocop-live roles and bench helpers, each in its own group.

Every child runs in a new session so stopping it stops whatever it spawned, and only
what this harness started is ever signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.config import BENCH_DIR
from bench.procfs import ProcSample, sample
from common.settings import Settings

REPO = BENCH_DIR.parent


class ServiceError(RuntimeError):
    """A child process that exited early or never became ready; carries its log tail."""


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The OCOP_* environment a subprocess needs to see ``settings``."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"OCOP_{name.upper()}"] = str(value)
    env.update(extra)
    return env


class Service:
    """One child process with its log file.

    Usage::

        worker = Service.start("worker", [sys.executable, "-m", "cli", "worker"],
                               env=settings_env(settings), log_dir=run_dir)
        worker.wait_http(f"http://127.0.0.1:{port}/healthz")
        worker.stop()
    """

    def __init__(self, name: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path

    @classmethod
    def start(cls, name: str, argv: Sequence[str], *, env: dict[str, str], log_dir: Path,
              stdout: int | None = None) -> Service:
        """Start ``argv``; stderr (and stdout unless captured) go to a log in ``log_dir``."""
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        # Children run in the log folder, so the bench package must come from the path.
        path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - argv is built by the harness, no shell
                list(argv), env={**env, "PYTHONPATH": path}, cwd=log_dir, stdin=subprocess.DEVNULL,
                stdout=log if stdout is None else stdout, stderr=log,
                start_new_session=True,
            )
        return cls(name, proc, log_path)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def sample(self) -> ProcSample | None:
        """CPU seconds and RSS of the child now (None once it exited)."""
        return sample(self.proc.pid) if self.proc.poll() is None else None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the child's log, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def check_alive(self) -> None:
        """Raise ServiceError with the log tail if the child has exited."""
        if self.proc.poll() is not None:
            raise ServiceError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
            )

    def wait_http(self, url: str, timeout_s: float = 120.0) -> None:
        """Wait until ``url`` answers 200; fail early with the log if the child died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            time.sleep(0.2)
        raise ServiceError(f"{self.name}: {url} did not answer in time:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the child's whole process group, as a crash would."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the child's group, then SIGKILL it if it lingers past ``timeout_s``."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        # Whatever the group spawned and left behind goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def python_argv(module: str, *args: str) -> list[str]:
    """``python -m module args`` with the harness' own interpreter."""
    return [sys.executable, "-m", module, *args]


def fetch_text(url: str, timeout_s: float = 5.0) -> str:
    """GET ``url`` (loopback only) and return the body as text."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback
        body: bytes = response.read()
    return body.decode("utf-8", "replace")


def run_json(name: str, argv: Sequence[str], *, env: dict[str, str], log_dir: Path,
             timeout_s: float) -> dict[str, Any]:
    """Run a bench helper to completion and return the JSON object it printed last."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path = log_dir / f"{name}-{time.monotonic_ns()}.json"
    with out_path.open("wb") as out:
        service = Service.start(name, argv, env=env, log_dir=log_dir, stdout=out.fileno())
        try:
            service.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            service.stop()
            raise ServiceError(f"{name} ran over {timeout_s:.0f} s:\n{service.log_tail()}") from exc
        finally:
            service.stop()
    lines = out_path.read_text().strip().splitlines()
    if service.proc.returncode != 0 or not lines:
        raise ServiceError(f"{name} failed ({service.proc.returncode}):\n{service.log_tail()}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
