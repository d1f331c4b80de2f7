"""Remembered event ids against a plain model: a set of (key, minute) pairs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.core.state import HOT_MINUTES, SeenIds
from streams.core.windows import MINUTE_MS

T0 = 1_795_740_000_000
KEYS = [f"v:e{i}" for i in range(12)] + ["o:e1", "o:e2"]

adds = st.tuples(st.just("add"), st.sampled_from(KEYS), st.integers(0, 12 * MINUTE_MS))
forgets = st.tuples(st.just("forget"), st.just(""), st.integers(0, 12 * MINUTE_MS))
packs = st.tuples(st.just("pack"), st.just(""), st.just(0))


@given(st.lists(st.one_of(adds, adds, adds, forgets, packs), max_size=80))
def test_seen_ids_behave_like_a_set_of_minute_keys(ops: list[tuple[str, str, int]]) -> None:
    seen, model = SeenIds(), set()
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
        assert seen.add(f"v:{m}", T0 + m * MINUTE_MS)
    seen.pack()
    assert sorted(seen.hot) == [T0 + m * MINUTE_MS for m in range(2, HOT_MINUTES + 3)]
    assert sorted(seen.packed) == [T0, T0 + MINUTE_MS]
    assert ("v:0", T0 + 5) in seen
    assert seen.add("v:late", T0 + 9)
    assert not seen.add("v:late", T0 + 10)
    assert not seen.add("v:0", T0)
    assert len(seen) == HOT_MINUTES + 4
