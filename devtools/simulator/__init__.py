"""Fair simulator: a seeded generator of view and order events, its exact ground truth,
and a Kafka producer and ``simulate`` command to send them.

The pure parts are importable without Kafka::

    from devtools.simulator import FairConfig, compute_truth, generate

    fair = generate(catalog, FairConfig(start_ms=t0, span_ms=600_000, events=10_000))
    truth = compute_truth(fair.messages, fair.catalog, seed=fair.config.seed)
"""

from devtools.simulator.fair import INVALID_REASONS, Fair, FairConfig, Message, generate
from devtools.simulator.truth import compute_truth, truth_json, write_truth

__all__ = [
    "INVALID_REASONS",
    "Fair",
    "FairConfig",
    "Message",
    "compute_truth",
    "generate",
    "truth_json",
    "write_truth",
]
