"""Prometheus from the OS package for the local stack: tools, config, launch, readiness.

The local Prometheus scrapes the worker and the web process at the stack's addresses and
loads the project's alert rules, so `ocop-live stack up --with-prometheus` shows the same
alerts the deployment raises.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devtools.stack import ports, service
from devtools.stack.ports import LOOPBACK, StackError

PACKAGE = "prometheus"
WORKER_JOB = "ocop-worker"
WEB_JOB = "ocop-web"
RULES_RELATIVE = Path("deploy") / "prometheus" / "alerts.yml"
# Quick enough to watch an alert go pending in the demo; `for:` clauses are minutes long.
SCRAPE_INTERVAL_S = 5
_PACKAGE_BINARY_PREFIX = "/usr/bin/prometheus"
_SERVICE_USER = "prometheus"


@dataclass(frozen=True)
class Tools:
    """Paths of the packaged binaries: ``ensure_tools(log).promtool``."""

    prometheus: str
    promtool: str


def repo_rules_file() -> Path | None:
    """Return ``deploy/prometheus/alerts.yml`` of the source tree this code runs from."""
    candidate = Path(__file__).resolve().parents[2] / RULES_RELATIVE
    return candidate if candidate.is_file() else None


def _package_processes() -> dict[int, int]:
    """Map pid to owner uid for every running process of the package's binaries."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
            uid = entry.stat().st_uid
        except OSError:
            continue
        if exe.startswith(_PACKAGE_BINARY_PREFIX):
            found[int(entry.name)] = uid
    return found


def _stop_package_services(before: dict[int, int], log: Callable[[str], None]) -> None:
    # Debian's package enables a system-wide Prometheus on :9090. The stack and the tests
    # run their own on free ports, so switch off only what this install just started.
    systemctl = shutil.which("systemctl")
    if systemctl and Path("/run/systemd/system").is_dir():
        log("disabling the prometheus system service the package enabled")
        subprocess.run(  # noqa: S603 - fixed argv
            [systemctl, "disable", "--now", "prometheus.service"], check=False
        )
    try:
        service_uid = pwd.getpwnam(_SERVICE_USER).pw_uid
    except KeyError:
        return
    started = [
        pid for pid, uid in _package_processes().items()
        if pid not in before and uid == service_uid
    ]
    if started:
        log(f"stopping the Prometheus service the package started (pids {started})")
        service.stop_pids(started, 10.0, log)


def ensure_tools(log: Callable[[str], None]) -> Tools:
    """Return ``prometheus`` and ``promtool``, installing Debian's package when missing."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        before = _package_processes()
        missing = "prometheus" if prometheus is None else "promtool"
        ports.ensure_command(missing, PACKAGE, log, apt_options=("--no-install-recommends",))
        _stop_package_services(before, log)
        prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        raise StackError(f"{PACKAGE} is installed but prometheus or promtool is not on PATH")
    return Tools(prometheus=prometheus, promtool=promtool)


def write_config(
    prom_dir: Path, *, worker_metrics_port: int, web_port: int, rules_file: Path
) -> Path:
    """Write ``prometheus.yml`` scraping the stack's worker and web ports; return its path."""
    prom_dir.mkdir(parents=True, exist_ok=True)
    interval = f"{SCRAPE_INTERVAL_S}s"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_file.resolve())],
        "scrape_configs": [
            {
                "job_name": WORKER_JOB,
                "static_configs": [{"targets": [f"{LOOPBACK}:{worker_metrics_port}"]}],
            },
            {
                "job_name": WEB_JOB,
                "static_configs": [{"targets": [f"{LOOPBACK}:{web_port}"]}],
            },
        ],
    }
    path = prom_dir / "prometheus.yml"
    # JSON is YAML: no YAML library needed to write a file Prometheus reads.
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def check_config(promtool: str, config: Path) -> None:
    """Raise StackError with promtool's report unless ``config`` and its rules are valid."""
    done = subprocess.run(  # noqa: S603 - fixed argv built here, no shell
        [promtool, "check", "config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if done.returncode != 0:
        raise StackError(
            f"promtool rejects {config} or its alert rules; fix them and retry:\n"
            + (done.stdout + done.stderr).strip()
        )


def command(prometheus: str, config: Path, *, port: int) -> list[str]:
    """Return the argv that runs Prometheus with ``config``, storing data beside it."""
    return [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={config.parent / 'data'}",
        "--storage.tsdb.retention.time=7d",
        f"--web.listen-address={LOOPBACK}:{port}",
    ]


def pid_matches(cmdline: str, config: Path) -> bool:
    """Return True if a process command line is the Prometheus of ``config``."""
    return "prometheus" in cmdline and f"--config.file={config}" in cmdline


def url(port: int) -> str:
    """Return the base URL of the Prometheus on ``port``."""
    return f"http://{LOOPBACK}:{port}"


def prometheus_answers(port: int, timeout_s: float = 1.0) -> bool:
    """Return True if the Prometheus on ``port`` reports itself ready."""
    try:
        with urllib.request.urlopen(  # noqa: S310 - fixed http URL on loopback
            f"{url(port)}/-/ready", timeout=timeout_s
        ) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
