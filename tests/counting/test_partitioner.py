"""Kafka's default partitioner in the core agrees with the one producers use."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from counting.partitioner import murmur2, partition_for


def _signed(h: int) -> int:
    return h - (1 << 32) if h >= 1 << 31 else h


@given(st.binary(max_size=600))
def test_murmur2_equals_aiokafka(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.binary(max_size=600), st.integers(1, 500))
def test_partition_equals_what_the_aiokafka_producer_picks(key: bytes, partitions: int) -> None:
    # Keys beyond the cached length take the uncached path: both must agree.
    every = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, every, every)
    long_key = key * 2 + b"x" * 600
    assert partition_for(long_key, partitions) == DefaultPartitioner()(long_key, every, every)


@pytest.mark.parametrize(
    ("data", "signed_hash"),
    [
        # org.apache.kafka.common.utils.UtilsTest.testMurmur2 (Java ints, hence signed).
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_client(data: bytes, signed_hash: int) -> None:
    assert _signed(murmur2(data)) == signed_hash


@pytest.mark.parametrize(
    ("key", "partition"),
    # The Java producer's partitions among 1000, as kafka-python's compatibility test has them.
    [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)],
)
def test_partition_matches_the_java_producer(key: bytes, partition: int) -> None:
    assert partition_for(key, 1000) == partition


def test_a_partition_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="partitions must be at least 1, got 0"):
        partition_for(b"cp-01", 0)
