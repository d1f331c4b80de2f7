"""``python -m bench.quiet worker``: the real worker with every Prometheus metric a no-op.

The project's code is untouched: the metric classes are swapped in prometheus_client
before ``common.metrics`` imports them, so the worker runs the same path minus the
cost of counting. Comparing it with the normal worker gives the metrics' share.
"""

from __future__ import annotations

from typing import Any

import prometheus_client


class _Silent:
    """Accepts every metric call and records nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def labels(self, *args: Any, **kwargs: Any) -> _Silent:
        """The same no-op for any label values."""
        return self

    def inc(self, amount: float = 1) -> None:
        """Count nothing."""

    def set(self, value: float) -> None:
        """Keep nothing."""

    def observe(self, amount: float) -> None:
        """Observe nothing."""


def main() -> None:
    """Swap the metric classes, then hand over to the ``ocop-live`` command."""
    prometheus_client.Counter = _Silent  # type: ignore[misc, assignment]
    prometheus_client.Gauge = _Silent  # type: ignore[misc, assignment]
    prometheus_client.Histogram = _Silent  # type: ignore[misc, assignment]
    from cli.main import main as ocop_live

    ocop_live()


if __name__ == "__main__":
    main()
