"""Statistics the report needs: medians, percentiles, Prometheus histograms and scrapes.

Pure functions over plain numbers and text, so tests can check them with tables.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]
Buckets = list[tuple[float, float]]
# Samples over time: (epoch seconds, value).
Series = Sequence[tuple[float, float]]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def median(values: Sequence[float]) -> float:
    """The middle value (mean of the two middle ones for an even count); NaN when empty."""
    return percentile(values, 50.0)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation; NaN when empty."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q={q} is outside 0..100")
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when either is missing or the denominator is 0."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


@dataclass(frozen=True, slots=True)
class Scrape:
    """One Prometheus text exposition, parsed.

    Usage::

        scrape = Scrape.parse(text)
        scrape.total("ocop_events_applied_total")       # summed over every label set
        scrape.buckets("ocop_freshness_applied_seconds")
    """

    samples: Mapping[str, Mapping[Labels, float]]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        """Parse the text format; comments and malformed lines are skipped."""
        samples: dict[str, dict[Labels, float]] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            match = _SAMPLE.match(line)
            if match is None:
                continue
            name, raw_labels, raw_value = match.groups()
            try:
                value = float(raw_value)
            except ValueError:
                continue
            labels = tuple(sorted(_LABEL.findall(raw_labels or "")))
            samples.setdefault(name, {})[labels] = value
        return cls(samples)

    def total(self, name: str, **labels: str) -> float:
        """Sum of ``name`` over the label sets that include ``labels``; 0 when absent."""
        wanted = set(labels.items())
        return sum(
            value for key, value in self.samples.get(name, {}).items() if wanted <= set(key)
        )

    def buckets(self, name: str) -> Buckets:
        """Cumulative (upper bound, count) pairs of histogram ``name``, summed over labels."""
        summed: dict[float, float] = {}
        for key, value in self.samples.get(f"{name}_bucket", {}).items():
            bound = dict(key).get("le")
            if bound is not None:
                le = math.inf if bound == "+Inf" else float(bound)
                summed[le] = summed.get(le, 0.0) + value
        return sorted(summed.items())


def bucket_delta(before: Buckets, after: Buckets) -> Buckets:
    """The observations made between two scrapes of the same histogram."""
    earlier = dict(before)
    return [(le, count - earlier.get(le, 0.0)) for le, count in after]


def histogram_quantile(buckets: Buckets, q: float) -> float:
    """Prometheus' ``histogram_quantile``: ``q`` in 0..1 over cumulative buckets.

    Interpolates linearly inside the bucket that holds the rank; a rank in the +Inf
    bucket answers the highest finite bound. NaN when the histogram is empty.
    """
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lower
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def after_warmup(series: Series, start: float, window: float) -> tuple[list[float], list[float]]:
    """Values of a (t, value) series in its first ``window`` seconds from ``start`` and in
    its last ``window`` seconds; both empty unless the two windows are apart."""
    if not series or series[-1][0] - window < start + window:
        return [], []
    end = series[-1][0]
    early = [v for t, v in series if start <= t < start + window]
    late = [v for t, v in series if t > end - window]
    return early, late


def growth_after(series: Series, start: float, window: float) -> float:
    """Relative growth of a series after its warm-up (which ends at ``start``): the median
    of its last ``window`` seconds against the median of the first ``window`` after the
    warm-up. Medians keep one garbage-collection spike from deciding the answer; windows
    of a whole period of a sawing load compare the same phases. NaN when too short."""
    early, late = after_warmup(series, start, window)
    if len(early) < 3 or len(late) < 3:
        return math.nan
    return ratio(median(late), median(early)) - 1.0
