"""py-spy around a scenario, and a summary of where the sampled CPU went, per package.

py-spy writes collapsed stacks (``frame;frame;frame count``), frames formatted as
``function (package/file.py:line)`` with the path cut short to its import path. Each
sample is charged to the package of its innermost frame ("self time by package").
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME_FILE = re.compile(r"\(([^():]+\.(?:py|pyx|so))(?::\d+)?\)\s*$")
_SITE = re.compile(r"(?:site|dist)-packages/([A-Za-z0-9_]+)")
_STDLIB_PACKAGES = ("asyncio", "json", "logging", "concurrent", "email", "http")


def package_of(path: str) -> str:
    """The package of a frame's file: its first import path part, asyncio, or stdlib.

    Works for py-spy's short paths (``faust/streams.py``) and for full ones.
    """
    site = _SITE.search(path)
    if site:
        return site.group(1)
    parts = Path(path).parts
    if path.startswith("/"):
        for name in _STDLIB_PACKAGES:
            if name in parts:
                return name
        return "python (stdlib)" if "/lib/python" in path else "other"
    if len(parts) == 1 or parts[0].startswith("<"):
        return "python (stdlib)"
    return parts[0]


def summarize(collapsed: str) -> dict[str, float]:
    """Share (0..1) of samples per package, charged to the innermost frame."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, raw = line.rpartition(" ")
        if not stack or not raw.isdigit():
            continue
        frames = stack.split(";")
        match = _FRAME_FILE.search(frames[-1])
        counts[package_of(match.group(1)) if match else "native / idle"] += int(raw)
    total = sum(counts.values())
    return {name: n / total for name, n in counts.most_common()} if total else {}


def top_functions(collapsed: str, n: int = 12) -> dict[str, float]:
    """The ``n`` innermost frames (function and file:line) with the most samples."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, raw = line.rpartition(" ")
        if stack and raw.isdigit():
            counts[stack.split(";")[-1].strip() or "(native)"] += int(raw)
    total = sum(counts.values())
    return {name: k / total for name, k in counts.most_common(n)} if total else {}


def summarize_inclusive(collapsed: str, names: tuple[str, ...]) -> dict[str, float]:
    """Share of samples whose stack passes through each of ``names`` (inclusive time)."""
    counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, raw = line.rpartition(" ")
        if not stack or not raw.isdigit():
            continue
        total += int(raw)
        for name in names:
            if name in stack:
                counts[name] += int(raw)
    return {name: counts[name] / total for name in names} if total else {}


def py_spy_path() -> str | None:
    """py-spy next to this interpreter (the venv), else on PATH; None if absent."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """``py-spy record`` of one pid into ``out`` (raw collapsed stacks).

    Usage::

        with Recording(pid, out, seconds=20):
            ...             # the workload; leaving the block stops the recording
    """

    def __init__(self, pid: int, out: Path, *, seconds: float) -> None:
        self.pid = pid
        self.out = out
        self.seconds = seconds
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Recording:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Begin sampling (a no-op without py-spy or when already started)."""
        py_spy = py_spy_path()
        if py_spy is None or self.proc is not None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [py_spy, "record", "--pid", str(self.pid), "--format", "raw", "--rate", "100",
             "--duration", str(int(self.seconds)), "--output", str(self.out), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )

    def stop(self) -> None:
        """Stop sampling and let py-spy write the file."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # SIGINT makes py-spy stop sampling and write what it has.
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
