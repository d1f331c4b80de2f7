"""What a bench run does and how big it is, read once from ``BENCH_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# The scenarios BENCH_ONLY can pick.
ONLY = ("flash", "kill", "soak", "gateway", "scaling")
# Those that pace a share of the capacity, which is then measured once first.
PACED = ("flash", "kill", "soak")


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
    # BENCH_ONLY: the once-only scenarios to run alone (empty: everything).
    only: tuple[str, ...] = ()
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
    # The soak's horizons (OCOP_MAX_LATENESS_S, OCOP_ORDER_HORIZON_S,
    # OCOP_MINUTE_RETENTION_S) and rotation: groups of sessions live soak_live_s each in
    # turn, quiet (groups - 1) x soak_live_s = 360 s in between, longer than horizon +
    # lateness (300 s), so 30 minutes forget each kind of state several times.
    soak_lateness_s: int = 120
    soak_order_horizon_s: int = 180
    soak_minute_retention_s: int = 300
    soak_live_s: int = 120
    soak_groups: int = 4
    profile_s: float = 20.0
    # Ingest gateway: the events generated (posted over and over in 500-event batches),
    # for how long each path sends, and concurrent connections.
    gateway_events: int = 100_000
    gateway_s: float = 30.0
    gateway_clients: int = 4
    # Worker scaling: events pre-filled (1 event/message) once per backend and drained by
    # 1, 2 and 4 workers in turn.
    scaling_events: int = 300_000
    partitions: int = 6
    seed: int = 20231125
    run_dir: Path = BENCH_DIR / ".run"
    results_dir: Path = BENCH_DIR / "results"

    def __post_init__(self) -> None:
        quiet = (self.soak_groups - 1) * self.soak_live_s
        if quiet <= self.soak_order_horizon_s + self.soak_lateness_s:
            raise ConfigError(
                f"soak rotation: {self.soak_groups} groups of {self.soak_live_s} s leave each "
                f"session quiet {quiet} s, not past the order horizon "
                f"{self.soak_order_horizon_s} s + lateness {self.soak_lateness_s} s")

    @property
    def soak_overrides(self) -> dict[str, int]:
        """The settings of the soak's worker and web process (by ``Settings`` field)."""
        return {"max_lateness_s": self.soak_lateness_s,
                "order_horizon_s": self.soak_order_horizon_s,
                "minute_retention_s": self.soak_minute_retention_s}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BenchConfig:
        """Read ``BENCH_RUNS``, ``BENCH_QUICK``, ``BENCH_SOAK_S`` and ``BENCH_ONLY``.

        ``BENCH_ONLY=soak`` (or ``flash``, ``kill``, ``gateway``, ``scaling``,
        comma-separated) runs only those scenarios, after measuring the capacity once if
        one of them paces a share of it (``PACED``); its results go to
        ``bench/results/only-<names>/``, so the full run's files stay as they are.
        """
        quick = env.get("BENCH_QUICK", "").strip() not in ("", "0", "false", "no")
        base = cls.short() if quick else cls()
        runs = _number(env, "BENCH_RUNS", base.runs)
        if runs != int(runs):
            raise ConfigError(f"BENCH_RUNS={env['BENCH_RUNS']!r} must be a whole number")
        only = _only(env.get("BENCH_ONLY", ""))
        return replace(base, runs=int(runs), soak_s=_number(env, "BENCH_SOAK_S", base.soak_s),
                       only=only, results_dir=(base.results_dir / f"only-{'-'.join(only)}"
                                               if only else base.results_dir))

    @classmethod
    def short(cls) -> BenchConfig:
        """The ``BENCH_QUICK=1`` sizes: every scenario, briefly, in about five minutes."""
        return cls(
            runs=1, quick=True, soak_s=60.0, single_events=40_000, envelope_events=150_000,
            naive_messages=4_000, freshness_s=10.0, fanout_s=10.0, flash_s=10.0,
            recover_cap_s=45.0, warmup_s=15.0, profile_s=8.0, gateway_events=50_000,
            gateway_s=10.0, scaling_events=60_000, soak_lateness_s=60,
            soak_order_horizon_s=60, soak_minute_retention_s=60, soak_live_s=60,
        )


def _only(raw: str) -> tuple[str, ...]:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in ONLY]
    if unknown:
        raise ConfigError(f"BENCH_ONLY={raw!r}: {', '.join(unknown)} is not one of "
                          f"{', '.join(ONLY)}")
    return tuple(n for n in ONLY if n in names)

