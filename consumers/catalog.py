"""Publishes session metadata to the compacted catalog topic."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from common.catalog import Catalog, encode_session
from common.settings import Settings


async def publish_catalog(catalog: Catalog, *, settings: Settings) -> int:
    """Send every session (key = session id) and wait for the broker; return the count."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for session in catalog.sessions:
            await producer.send(
                settings.sessions_topic,
                key=session.session_id.encode(),
                value=encode_session(session),
            )
        await producer.flush()
    finally:
        await producer.stop()
    return len(catalog.sessions)
