"""The order lifecycle merge does not depend on arrival order or repetition."""

from __future__ import annotations

import functools

from hypothesis import given
from hypothesis import strategies as st

from counting.contract import OrderEvent, Status
from counting.orders import OrderState

events = st.lists(
    st.builds(
        OrderEvent,
        event_id=st.sampled_from(["a", "b", "c", "d"]),
        order_id=st.just("o"),
        session_id=st.just("s"),
        product_id=st.sampled_from(["p1", "p2"]),
        quantity=st.integers(1, 5),
        amount_vnd=st.integers(0, 10**6),
        status=st.sampled_from(list(Status)),
        ts_ms=st.integers(1_795_740_000_000, 1_795_740_600_000),
    ),
    min_size=1,
    max_size=8,
)


def _fold(evs: list[OrderEvent]) -> OrderState:
    return functools.reduce(OrderState.merge, evs[1:], OrderState.of(evs[0]))


@given(events, st.randoms())
def test_any_shuffle_and_repetition_gives_the_same_state(
    evs: list[OrderEvent], rnd: st.SearchStrategy[object]
) -> None:
    shuffled = evs + evs[: len(evs) // 2]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert _fold(shuffled) == _fold(evs)


@given(events)
def test_counts_iff_no_cancel_or_refund(evs: list[OrderEvent]) -> None:
    state = _fold(evs)
    assert state.counts == all(e.status in (Status.PLACED, Status.PAID) for e in evs)
    assert state.amount_vnd >= 0


def test_anchor_is_the_placing_event_even_when_it_arrives_last() -> None:
    paid = OrderEvent("e2", "o", "s", "p", 1, 100, Status.PAID, 2_000)
    placed = OrderEvent("e1", "o", "s", "p", 1, 100, Status.PLACED, 1_000)
    state = OrderState.of(paid).merge(placed)
    assert state.ts_ms == 1_000
    assert state.counts
    assert OrderState.from_list(state.to_list()) == state
