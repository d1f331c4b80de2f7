"""Builds the write path's parts from settings, for the worker and for a rebuild alike."""

from __future__ import annotations

from common.settings import Settings
from counting.aggregate import Aggregator, Rules
from store.catalog import CatalogStore
from store.client import RedisClient
from store.keys import Keys
from streams.shardstore import Retention, ShardStore


def aggregator_for(settings: Settings, *, partitions: int | None = None) -> Aggregator:
    """The aggregation with the configured topics, time rules and limits.

    ``partitions`` is the input topics' partition count as the broker reports it; with it,
    records not on their key's partition are dead-lettered (None skips that check).
    """
    return Aggregator(
        topics={settings.views_topic: "views", settings.orders_topic: "orders"},
        rules=Rules(
            max_future_skew_ms=settings.max_future_skew_s * 1000,
            max_lateness_ms=settings.max_lateness_s * 1000,
            max_age_ms=settings.max_age_s * 1000,
            order_horizon_ms=settings.order_horizon_s * 1000,
        ),
        max_message_bytes=settings.max_message_bytes,
        fault_event_prefix=settings.fault_event_prefix,
        partitions=partitions,
    )


def store_for(redis: RedisClient, settings: Settings) -> ShardStore:
    """The fenced store under the configured key prefix and retention."""
    return ShardStore(redis, keys=Keys(settings.key_prefix),
                      retention=Retention(minute_s=settings.minute_retention_s,
                                          quarter_s=settings.retention_days * 86400))


def catalog_store_for(redis: RedisClient, settings: Settings) -> CatalogStore:
    """The catalog hash under the configured key prefix."""
    return CatalogStore(redis, keys=Keys(settings.key_prefix))
