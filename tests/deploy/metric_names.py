"""The sample names every declared metric of ``common.metrics`` and ``ingest.metrics`` exposes.

Workers and web processes serve the ``common.metrics`` declarations; the ingest gateway
serves its own, from ``ingest.metrics``.
"""

from __future__ import annotations

import re
from types import ModuleType

from prometheus_client.metrics import MetricWrapperBase

from common import metrics as common_metrics
from ingest import metrics as ingest_metrics

DECLARING_MODULES: tuple[ModuleType, ...] = (common_metrics, ingest_metrics)
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}
OCOP_NAME = re.compile(r"\bocop_[a-z0-9_]+\b")


def declared_samples() -> set[str]:
    """Every ``ocop_*`` sample name a process can expose, from the declarations."""
    names: set[str] = set()
    for module in DECLARING_MODULES:
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                for family in value.describe():
                    names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def undeclared(expr: str) -> set[str]:
    """The ``ocop_*`` names used in a PromQL expression that no declaration exposes."""
    return set(OCOP_NAME.findall(expr)) - declared_samples()
