"""The resume replay budget: a token bucket per client address (pure, times given)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.replays import ReplayBudget


def test_a_burst_then_one_replay_per_refill() -> None:
    budget = ReplayBudget(replays=2, window_s=8.0)
    assert [budget.take("a", now=0.0) for _ in range(3)] == [True, True, False]
    assert budget.take("a", now=3.5) is False  # a replay refills every 4 s
    assert budget.take("a", now=4.0) is True
    assert budget.take("a", now=4.5) is False
    # A long silence refills to the burst size, not beyond.
    assert [budget.take("a", now=1000.0) for _ in range(3)] == [True, True, False]


def test_addresses_have_their_own_budgets() -> None:
    budget = ReplayBudget(replays=1, window_s=10.0)
    assert budget.take("a", now=0.0) is True
    assert budget.take("a", now=0.0) is False
    assert budget.take("b", now=0.0) is True


def test_memory_is_bounded_by_forgetting_the_least_recently_seen() -> None:
    budget = ReplayBudget(replays=1, window_s=10.0, max_addresses=2)
    assert budget.take("a", now=0.0) and budget.take("b", now=0.0)
    assert budget.take("a", now=1.0) is False  # "a" is now the most recently seen
    assert budget.take("c", now=1.0) is True
    assert len(budget) == 2
    assert budget.take("a", now=1.0) is False  # kept
    assert budget.take("b", now=1.0) is True   # forgotten, so a full bucket again


@pytest.mark.parametrize(("options", "message"), [
    ({"replays": 0}, "replays must be at least 1, got 0"),
    ({"window_s": 0.0}, "window_s must be positive, got 0.0"),
    ({"max_addresses": 0}, "max_addresses must be at least 1, got 0"),
])
def test_bad_budgets_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplayBudget(**options)  # type: ignore[arg-type]


@given(replays=st.integers(1, 6), window_s=st.floats(0.5, 30.0),
       gaps=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=80))
def test_never_more_than_the_burst_plus_the_refill(replays: int, window_s: float,
                                                   gaps: list[float]) -> None:
    """Over any stretch of time, replays granted ≤ burst + rate * its length."""
    budget = ReplayBudget(replays=replays, window_s=window_s)
    now, granted = 0.0, []
    for gap in gaps:
        now += gap
        if budget.take("a", now=now):
            granted.append(now)
    rate = replays / window_s
    for i, start in enumerate(granted):
        for j in range(i, len(granted)):
            assert j - i + 1 <= replays + rate * (granted[j] - start) + 1e-9
