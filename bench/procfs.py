"""CPU time and resident memory of a process, read from ``/proc`` (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcSample:
    """User + system CPU seconds so far and resident set size in bytes."""

    cpu_s: float
    rss_bytes: int


def parse_stat(text: str, *, ticks: int = _TICKS, page: int = _PAGE) -> ProcSample:
    """Parse ``/proc/<pid>/stat``; the command name may hold spaces and parentheses."""
    fields = text.rsplit(")", 1)[1].split()
    # Numbered as in proc(5): field 3 (state) is fields[0] here.
    utime, stime, rss_pages = int(fields[11]), int(fields[12]), int(fields[21])
    return ProcSample(cpu_s=(utime + stime) / ticks, rss_bytes=rss_pages * page)


def sample(pid: int) -> ProcSample | None:
    """The process' CPU and RSS now, or None once it has exited."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return None
