"""Versions of everything measured, and which accelerations the processes really use."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
from pathlib import Path

PACKAGES = ("faust-streaming", "mode-streaming", "aiokafka", "redis", "hiredis", "websockets",
            "msgspec", "prometheus-client", "pydantic", "matplotlib", "py-spy")


def package_versions() -> dict[str, str]:
    """Python and the installed version of each package that matters here."""
    found = {"Python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def accelerations() -> dict[str, str]:
    """Each optional C/Cython speed-up: active, or why not (checked in this interpreter).

    The worker and web processes run this same interpreter and environment, so what
    imports here imports there.
    """
    import redis.utils

    aiokafka_c = _importable("aiokafka.record._crecords") and not os.environ.get(
        "AIOKAFKA_NO_EXTENSIONS")
    return {
        "hiredis (redis-py parser)": "active" if redis.utils.HIREDIS_AVAILABLE else "inactive",
        "uvloop": ("active: the worker, the web process and the bench consumers run on it "
                   "(common/eventloop.py)" if _importable("uvloop")
                   else "not installed: asyncio's default loop"),
        "aiokafka C records": "active" if aiokafka_c else "inactive",
        "faust Cython streams": ("active" if _importable("faust._cython.streams")
                                 and not os.environ.get("NO_CYTHON") else "inactive"),
        "websockets C speedups": "active" if _importable("websockets.speedups") else "inactive",
        "msgspec (C decoder)": "active" if _importable("msgspec._core") else "inactive",
    }


def machine() -> dict[str, str]:
    """Cores, memory and CPU model of this machine."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    return {"cores": str(os.cpu_count()), "cpu": model,
            "memory": f"{mem_kb / 2**20:.0f} GiB", "kernel": platform.release()}


def load_average() -> str:
    """The 1-minute load average now: other work on this shared machine skews figures."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "unknown"
