"""What every scenario gets: the configuration, the stack's addresses and a log folder."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import BenchConfig
from devtools.stack import StackAddresses

Figures = dict[str, float]


@dataclass(slots=True)
class Context:
    """Shared by the scenarios of one bench invocation.

    Usage::

        ctx = Context(config, addrs, log_dir=config.run_dir / "logs", stamp="r1")
        tag = ctx.tag("pipe")   # unique topic / key / group prefix
    """

    config: BenchConfig
    addrs: StackAddresses
    log_dir: Path
    stamp: str
    _next: itertools.count[int] = field(default_factory=itertools.count)

    def tag(self, name: str) -> str:
        """A fresh prefix for topics, Redis keys and the consumer group of one scenario."""
        return f"b{self.stamp}-{name}{next(self._next)}"

    def log(self, message: str) -> None:
        """Progress on stderr."""
        print(f"[bench] {message}", file=sys.stderr, flush=True)
