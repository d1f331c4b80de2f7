"""A consumer's measured window: messages and events it handled, wall and CPU seconds.

Every consumer is timed the same way: from the end of its first non-empty batch (so
group joins, connection set-up and the first fetch are left out) to its last message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Progress:
    """One observation: wall seconds (any origin), messages done so far, CPU seconds."""

    t: float
    done: int
    cpu_s: float


@dataclass(frozen=True, slots=True)
class Throughput:
    """Work done inside the measured window."""

    messages: int
    events: float
    seconds: float
    cpu_s: float

    @property
    def events_per_s(self) -> float:
        """Events per wall second; NaN for an empty window."""
        return self.events / self.seconds if self.seconds > 0 else math.nan

    @property
    def cpu_per_1k(self) -> float:
        """CPU seconds spent per 1,000 events."""
        return 1000 * self.cpu_s / self.events if self.events > 0 else math.nan

    def to_json(self) -> dict[str, float]:
        """The fields as a JSON object."""
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, raw: Mapping[str, float]) -> Throughput:
        """Inverse of :meth:`to_json`."""
        return cls(int(raw["messages"]), float(raw["events"]), float(raw["seconds"]),
                   float(raw["cpu_s"]))


def window(samples: Sequence[Progress], *, events_per_message: float) -> Throughput:
    """From the first sample with progress to the last sample.

    The samples must end with the one that saw the last message.
    """
    started = next((s for s in samples if s.done > 0), None)
    if started is None or started is samples[-1]:
        return Throughput(0, 0.0, 0.0, 0.0)
    last = samples[-1]
    messages = last.done - started.done
    return Throughput(messages, messages * events_per_message, last.t - started.t,
                      last.cpu_s - started.cpu_s)
