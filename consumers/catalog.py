"""Publishes a catalog (fairs and sessions) to the compacted catalog topic."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from common.catalog import Catalog, encode_fair, encode_session, fair_key
from common.settings import Settings


async def publish_catalog(catalog: Catalog, *, settings: Settings) -> int:
    """Send every fair (key ``fair:<fair_id>``) and session (key = session id), wait for
    the broker; return how many sessions were sent."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for fair in catalog.fairs:
            await producer.send(
                settings.sessions_topic,
                key=fair_key(fair.fair_id).encode(),
                value=encode_fair(fair),
            )
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
