"""What a bench run does and how big it is, read once from ``BENCH_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


class ConfigError(ValueError):
    """A ``BENCH_*`` variable that cannot be used; the message names it and its value."""


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be above zero")
    return value


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Sizes and durations of one bench invocation.

    Usage::

        config = BenchConfig.from_env(os.environ)
        config.runs  # 3 unless BENCH_RUNS says otherwise
    """

    runs: int = 3
    quick: bool = False
    soak_s: float = 1800.0
    # Throughput scenarios: events pre-filled per encoding, and per-message envelope size.
    single_events: int = 200_000
    envelope_events: int = 600_000
    envelope_size: int = 50
    naive_messages: int = 15_000
    # Paced scenarios.
    load_share: float = 0.7
    freshness_s: float = 30.0
    fanout_s: float = 30.0
    fanout_clients: int = 1_000
    fanout_rate: float = 1_000.0
    flash_s: float = 30.0
    flash_factor: float = 10.0
    recover_cap_s: float = 120.0
    warmup_s: float = 30.0
    profile_s: float = 20.0
    partitions: int = 6
    seed: int = 20231125
    run_dir: Path = BENCH_DIR / ".run"
    results_dir: Path = BENCH_DIR / "results"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BenchConfig:
        """Read ``BENCH_RUNS``, ``BENCH_QUICK`` and ``BENCH_SOAK_S`` over the defaults."""
        quick = env.get("BENCH_QUICK", "").strip() not in ("", "0", "false", "no")
        base = cls.short() if quick else cls()
        runs = _number(env, "BENCH_RUNS", base.runs)
        if runs != int(runs):
            raise ConfigError(f"BENCH_RUNS={env['BENCH_RUNS']!r} must be a whole number")
        return replace(base, runs=int(runs), soak_s=_number(env, "BENCH_SOAK_S", base.soak_s))

    @classmethod
    def short(cls) -> BenchConfig:
        """The ``BENCH_QUICK=1`` sizes: every scenario, briefly, in about five minutes."""
        return cls(
            runs=1, quick=True, soak_s=60.0, single_events=40_000, envelope_events=150_000,
            naive_messages=4_000, freshness_s=10.0, fanout_s=10.0, flash_s=10.0,
            recover_cap_s=45.0, warmup_s=15.0, profile_s=8.0,
        )

