"""Catalog records through the write path on the real Redis: both hashes, one apply."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from redis.asyncio import Redis

from common.catalog import SAMPLE_CATALOG, encode_fair, encode_session, fair_key, load_catalog
from common.settings import Settings
from counting.aggregate import Record
from counting.contract import Reason
from counting.delta import DeadLetter
from store.catalog import CatalogStore
from store.keys import Keys
from streams.catalog import CatalogProcessor
from streams.deadletters import DeadLetterSendFailed

pytestmark = pytest.mark.integration

SAMPLE = load_catalog(SAMPLE_CATALOG)
FAIRS = SAMPLE.fairs[:2]
SESSIONS = SAMPLE.sessions[:3]


class RecordingSink:
    """Keeps the dead letters it is sent; refuses them when ``fail`` is set."""

    def __init__(self, *, fail: bool = False) -> None:
        self.letters: list[DeadLetter] = []
        self.fail = fail

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        if self.fail:
            raise DeadLetterSendFailed(letters, ConnectionError("broker down"))
        self.letters.extend(letters)


@pytest.fixture
async def redis(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[Redis, Keys]]:
    settings = make_settings()
    client = Redis.from_url(settings.redis_url, decode_responses=True)
    yield client, Keys(settings.key_prefix)
    await client.aclose()


def _records() -> list[Record]:
    records = [Record("ocop.sessions", 0, i, fair_key(f.fair_id).encode(), encode_fair(f))
               for i, f in enumerate(FAIRS)]
    records += [Record("ocop.sessions", 1, i, s.session_id.encode(), encode_session(s))
                for i, s in enumerate(SESSIONS)]
    return records


async def test_sessions_and_fairs_are_stored_in_their_hashes(redis: tuple[Redis, Keys]) -> None:
    client, keys = redis
    store = CatalogStore(client, keys=keys)
    processor = CatalogProcessor(store=store, sink=RecordingSink())
    assert await processor.process(_records()) == len(FAIRS) + len(SESSIONS)
    assert await client.hgetall(keys.fairs()) == {
        f.fair_id: encode_fair(f).decode() for f in FAIRS}
    assert await client.hgetall(keys.catalog()) == {
        s.session_id: encode_session(s).decode() for s in SESSIONS}
    assert (await store.count(), await store.count_fairs()) == (len(SESSIONS), len(FAIRS))

    # Tombstones remove a fair and a session; a bad fair is dead-lettered, not stored.
    sink = RecordingSink()
    gone = FAIRS[0].fair_id
    await CatalogProcessor(store=store, sink=sink).process([
        Record("ocop.sessions", 0, 2, fair_key(gone).encode(), None),
        Record("ocop.sessions", 1, 3, SESSIONS[0].session_id.encode(), None),
        Record("ocop.sessions", 0, 3, fair_key("bad").encode(), b'{"fair_id": "bad"}'),
    ])
    assert set(await client.hkeys(keys.fairs())) == {FAIRS[1].fair_id}
    assert set(await client.hkeys(keys.catalog())) == {s.session_id for s in SESSIONS[1:]}
    assert [(d.offset, d.rejected.reason) for d in sink.letters] == [(3, Reason.INVALID_FIELD)]


async def test_a_refused_dead_letter_does_not_stop_the_catalog(
    redis: tuple[Redis, Keys],
) -> None:
    client, keys = redis
    processor = CatalogProcessor(store=CatalogStore(client, keys=keys),
                                 sink=RecordingSink(fail=True))
    bad = Record("ocop.sessions", 0, 9, fair_key("x").encode(), b"not json")
    assert await processor.process([*_records(), bad]) == len(FAIRS) + len(SESSIONS)
    assert await client.hlen(keys.fairs()) == len(FAIRS)
