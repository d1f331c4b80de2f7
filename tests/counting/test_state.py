"""Remembered event ids against a plain model (a set of (key, minute) pairs), and a
session's viewer presence."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from counting.state import HOT_MINUTES, SeenIds, SessionLive, id_hash, pack_ids, unpack_ids
from store.windows import MINUTE_MS

T0 = 1_795_740_000_000
KEYS = [id_hash("views", f"e{i}") for i in range(12)] + [id_hash("orders", "e1"),
                                                         id_hash("orders", "e2")]

adds = st.tuples(st.just("add"), st.sampled_from(KEYS), st.integers(0, 12 * MINUTE_MS))
forgets = st.tuples(st.just("forget"), st.just(0), st.integers(0, 12 * MINUTE_MS))
packs = st.tuples(st.just("pack"), st.just(0), st.just(0))


@given(st.lists(st.one_of(adds, adds, adds, forgets, packs), max_size=80))
def test_seen_ids_behave_like_a_set_of_minute_keys(ops: list[tuple[str, int, int]]) -> None:
    seen, model = SeenIds(), set[tuple[int, int]]()
    for op, key, offset in ops:
        ts = T0 + offset
        minute = ts - ts % MINUTE_MS
        if op == "add":
            assert seen.add(key, ts) == ((key, minute) not in model)
            model.add((key, minute))
        elif op == "forget":
            gone = seen.forget_before(ts)
            assert gone == sorted({m for _, m in model if m + MINUTE_MS <= ts})
            model = {(k, m) for k, m in model if m + MINUTE_MS > ts}
        else:
            seen.pack()
        for k in KEYS:
            for m in range(13):
                probe = T0 + m * MINUTE_MS + 7
                assert ((k, probe) in seen) == ((k, probe - probe % MINUTE_MS) in model)
        assert len(seen) == len(model)


def test_old_minutes_are_packed_and_still_take_late_ids() -> None:
    seen = SeenIds()
    for m in range(HOT_MINUTES + 3):
        assert seen.add(m, T0 + m * MINUTE_MS)
    seen.pack()
    assert sorted(seen.hot) == [T0 + m * MINUTE_MS for m in range(2, HOT_MINUTES + 3)]
    assert sorted(seen.packed) == [T0, T0 + MINUTE_MS]  # more than HOT_MINUTES behind
    assert (0, T0 + 5) in seen
    assert seen.add(99, T0 + 9)
    assert not seen.add(99, T0 + 10)
    assert not seen.add(0, T0)
    assert len(seen) == HOT_MINUTES + 4


def test_a_loaded_minute_takes_late_ids_and_merges_them_once_many() -> None:
    seen = SeenIds()
    seen.add_packed(T0, pack_ids([7, 2**64 - 1, 3]))
    assert seen.add(5, T0 + 1)
    assert not seen.add(2**64 - 1, T0 + 2)
    seen.add(1, T0 + 5 * MINUTE_MS)
    seen.pack()
    assert list(seen.packed[T0].ids) == [3, 7, 2**64 - 1]  # a few late ids wait in a set
    for h in range(100, 100 + 1100):
        assert seen.add(h, T0 + 3)
    seen.pack()
    assert list(seen.packed[T0].ids) == [3, 5, 7, *range(100, 1200), 2**64 - 1]
    assert not seen.packed[T0].late
    assert (1150, T0) in seen
    assert len(seen) == 1 + 3 + 1 + 1100


@given(st.lists(st.integers(0, 2**64 - 1)))
def test_fingerprints_survive_packing(ids: list[int]) -> None:
    assert list(unpack_ids(pack_ids(ids))) == ids


def test_views_and_orders_have_separate_id_spaces() -> None:
    assert id_hash("views", "e1") != id_hash("orders", "e1")
    assert id_hash("views", "e1") == id_hash("views", "e1")


def test_without_counts_viewers_now_is_joins_minus_leaves_never_below_zero() -> None:
    live = SessionLive()
    for join, ts in [(True, T0), (True, T0 + 1), (False, T0 + 2), (False, T0 + 3),
                     (False, T0 + 4)]:
        live.join_or_leave(join, ts)
    assert (live.viewers_now, live.peak, live.peak_at, live.net) == (0, 2, T0 + 1, -1)


def test_the_first_count_replaces_the_peak_of_joins_and_leaves() -> None:
    live = SessionLive()
    for ts in range(5):
        live.join_or_leave(True, T0 + ts)
    live.report(3, T0 + 10)
    assert (live.viewers_now, live.peak, live.peak_at) == (3, 3, T0 + 10)
    # Joins go on counting views elsewhere, but no longer move viewers now or the peak.
    for ts in range(5):
        live.join_or_leave(True, T0 + 20 + ts)
    assert (live.viewers_now, live.peak, live.peak_at) == (3, 3, T0 + 10)


counts = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3)), min_size=1, max_size=12)


@given(counts, st.randoms(use_true_random=False))
def test_counts_give_the_same_presence_in_any_order_and_with_repeats(
    reports: list[tuple[int, int]], rng: random.Random
) -> None:
    def fold(items: list[tuple[int, int]]) -> SessionLive:
        live = SessionLive()
        for viewers, at in items:
            live.report(viewers, T0 + at)
        return live

    shuffled = [*reports, *reports[:2]]
    rng.shuffle(shuffled)
    assert fold(shuffled) == fold(reports)
    latest = max((at, viewers) for viewers, at in reports)
    peak = max(viewers for viewers, _ in reports)
    first_at = min(at for viewers, at in reports if viewers == peak)
    assert (fold(reports).viewers_now, fold(reports).peak, fold(reports).peak_at) == (
        latest[1], peak, T0 + first_at)
