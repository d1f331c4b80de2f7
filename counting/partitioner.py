"""Kafka's default partitioner, so the core can tell a record that is on the wrong shard.

Producers place a keyed record on ``(murmur2(key) & 0x7fffffff) % partitions`` (the Java
client's ``Utils.murmur2`` and ``toPositive``; aiokafka and librdkafka's
``murmur2_random`` do the same). A shard counts a session alone only if every record of
that session arrives on the partition its key hashes to.

Usage::

    partition_for(b"cp-2023-bk-01", 6)
"""

from __future__ import annotations

import struct
from functools import lru_cache

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit MurmurHash2 of ``data``, as an unsigned int (Java's int & 0xffffffff)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    body = length - length % 4
    for (k,) in _WORDS.iter_unpack(data[:body]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    if body < length:
        # The Java code XORs the last 1-3 bytes in little-endian order, then multiplies.
        h = ((h ^ int.from_bytes(data[body:], "little")) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    if len(key) > _CACHED_KEY_BYTES:
        return _partition(key, partitions)
    return _cached_partition(key, partitions)


def _partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# Keys are session ids, a few hundred at a fair: caching makes the per-record check a
# dictionary hit. Only keys as long as a valid session id (128 characters of UTF-8) are
# cached, and only so many, so a flood of random or huge keys cannot grow the cache.
_CACHED_KEY_BYTES = 512
_cached_partition = lru_cache(maxsize=4096)(_partition)
