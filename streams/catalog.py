"""Catalog records through the write path: dead letters first, then the catalog hashes."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from common import metrics
from counting.aggregate import Record
from counting.catalog import catalog_changes
from store.catalog import CatalogStore
from streams.deadletters import DeadLetterSendFailed
from streams.pipeline import LetterSink

log = logging.getLogger(__name__)


class CatalogProcessor:
    """Applies batches of catalog records; the live agent and the rebuild share it.

    Usage::

        processor = CatalogProcessor(store=CatalogStore(redis, keys=keys), sink=sink)
        await processor.process(records)
    """

    def __init__(self, *, store: CatalogStore, sink: LetterSink) -> None:
        self.store = store
        self.sink = sink

    async def process(self, records: Sequence[Record]) -> int:
        """Apply ``records`` in order; return how many sessions and fairs were stored or
        removed."""
        changes = catalog_changes(records)
        # 1. A bad record reaches the dead-letter topic before the good ones land. One
        #    the topic refuses is logged and skipped: the catalog must go on updating.
        if changes.dead_letters:
            try:
                await self.sink.send(changes.dead_letters)
            except DeadLetterSendFailed as exc:
                metrics.APPLY_FAILURES.labels("catalog_dead_letter").inc()
                log.error("catalog: %s; those records are skipped, fix the broker or the "
                          "dead-letter topic and republish them", exc)
        # 2. The sessions and fairs hashes, one transaction.
        await self.store.apply(changes.sessions, fairs=changes.fairs)
        applied = len(changes.sessions) + len(changes.fairs)
        metrics.CATALOG_UPDATES.inc(applied)
        return applied
