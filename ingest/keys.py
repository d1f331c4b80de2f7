"""Per-source ingest keys: stored as SHA-256 digests in Redis, each with its grant.

A key is 32 random bytes (URL-safe base64); only its digest is kept, so a copy of Redis
does not give the keys away. A grant bound to sessions or shops writes only those; a
shop binding covers the catalog's sessions of that shop.

Usage::

    store = KeyStore(redis, Keys("ocop"))
    key = await store.add("back-office", sessions=("cp-01",), shops=())
    grant = await store.lookup(key)
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

import msgspec

from common.catalog import CatalogError, decode_session
from store.client import RedisClient
from store.keys import Keys


class KeyNameTaken(ValueError):
    """A key of that name exists already: revoke it first."""


class Grant(msgspec.Struct, frozen=True):
    """What one key may write: every session when it binds none."""

    name: str
    sessions: tuple[str, ...] = ()
    shops: tuple[str, ...] = ()

    @property
    def bound(self) -> bool:
        """Whether the key is limited to some sessions or shops."""
        return bool(self.sessions or self.shops)


def digest(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Grant).decode


class KeyStore:
    """Add, look up, list and revoke ingest keys in Redis (``decode_responses=False``)."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def add(self, name: str, *, sessions: Iterable[str], shops: Iterable[str]) -> str:
        """Create a key named ``name`` and return it (shown once, never stored)."""
        key = secrets.token_urlsafe(32)
        stored = digest(key)
        if not await self.redis.hsetnx(self.keys.ingest_key_names(), name, stored):
            raise KeyNameTaken(f"an ingest key named {name!r} exists; revoke it first")
        grant = Grant(name, tuple(dict.fromkeys(sessions)), tuple(dict.fromkeys(shops)))
        await self.redis.hset(self.keys.ingest_keys(), stored, _encode(grant))
        return key

    async def lookup(self, key: str) -> Grant | None:
        """The grant of ``key``, or None for an unknown or revoked key."""
        raw = await self.redis.hget(self.keys.ingest_keys(), digest(key))
        return None if raw is None else _decode(raw)

    async def grants(self) -> list[Grant]:
        """Every key's grant, by name."""
        raw = await self.redis.hvals(self.keys.ingest_keys())
        return sorted((_decode(value) for value in raw), key=lambda grant: grant.name)

    async def revoke(self, name: str) -> bool:
        """Remove the key named ``name``; False if there is none."""
        stored = await self.redis.hget(self.keys.ingest_key_names(), name)
        if stored is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.ingest_keys(), stored)
            pipe.hdel(self.keys.ingest_key_names(), name)
            await pipe.execute()
        return True

    async def forbidden(self, grant: Grant, sessions: Iterable[str]) -> list[str]:
        """The ``sessions`` ``grant`` may not write (a shop binding asks the catalog)."""
        wanted = [s for s in dict.fromkeys(sessions) if s not in grant.sessions]
        if not grant.bound or not wanted:
            return []
        if not grant.shops:
            return wanted
        rows = await self.redis.hmget(self.keys.catalog(), wanted)
        return [session for session, row in zip(wanted, rows, strict=True)
                if _shop(row) not in grant.shops]


def _shop(row: bytes | str | None) -> str:
    """The shop of a catalog row; "" (no shop name is empty) for none or a bad row."""
    if row is None:
        return ""
    try:
        return decode_session(row.encode() if isinstance(row, str) else row).shop
    except CatalogError:
        return ""
