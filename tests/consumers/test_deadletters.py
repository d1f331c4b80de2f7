"""Dead-letter tools: decoding and printing (pure), show and replay on the real stack."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import unicodedata
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from cli.main import main
from common.catalog import SAMPLE_CATALOG, load_catalog
from common.settings import Settings
from consumers.deadletters import (
    DeadLetterFormatError,
    DeadLetterRow,
    DurationError,
    decode_dead_letter,
    newest,
    parse_duration,
    printable_prefix,
)
from consumers.replay import Replay
from consumers.topics import ensure_topics
from counting.contract import Reason, Rejected
from counting.delta import DeadLetter
from devtools.simulator.fair import FairConfig, generate
from devtools.simulator.producer import KafkaTarget, send_fair
from devtools.simulator.truth import compute_truth
from streams.deadletters import DeadLetterLimits, encode_dead_letter
from tests.conftest import seconds, settings_env
from tests.expectations import Drift, drift_from_truth
from tests.processes import running, wait_caught_up

LIMITS = DeadLetterLimits(max_value_bytes=65_536)
UNSAFE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _letter(reason: Reason, value: bytes, *, topic: str = "ocop.views", partition: int = 1,
            offset: int = 7, index: int = 0, key: bytes | None = b"cp-1",
            detail: str = "why") -> DeadLetter:
    return DeadLetter(topic, partition, offset, key, Rejected(value, reason, detail, index))


def _row(letter: DeadLetter, *, extra: list[tuple[str, bytes]] | None = None,
         ts: int = 1_750_000_000_000) -> DeadLetterRow:
    key, value, headers = encode_dead_letter(letter, LIMITS)
    return decode_dead_letter(partition=0, offset=3, timestamp_ms=ts, key=key, value=value,
                              headers=headers + (extra or []))


# ---- durations ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "ms"), [
    ("30s", 30_000), ("15m", 900_000), ("1h", 3_600_000), ("2d", 172_800_000),
])
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", [
    "", "1", "h", "0s", "1.5h", "1 h", " 1h", "1h ", "1H", "-1h", "1h30m", "1w", "\u0661h",
    "9999999999d",
])
def test_a_bad_duration_is_named(text: str) -> None:
    with pytest.raises(DurationError, match="duration " + re.escape(repr(text))):
        parse_duration(text)


def test_show_names_a_bad_since_before_reaching_kafka() -> None:
    result = CliRunner().invoke(main, ["dlq", "show", "--since", "15x"])
    assert result.exit_code == 2
    assert "'15x'" in result.output
    assert "30s, 15m, 1h, 2d" in result.output


def test_replay_help_says_a_second_replay_is_harmless() -> None:
    result = CliRunner().invoke(main, ["dlq", "replay", "--help"])
    assert result.exit_code == 0
    assert "Replaying twice is harmless" in " ".join(result.output.split())


# ---- printable prefix --------------------------------------------------------------

@pytest.mark.parametrize(("data", "shown"), [
    (b'{"a": 1}', '{"a": 1}'),
    ("Nước mắm Phú Quốc ★".encode(), "Nước mắm Phú Quốc ★"),
    (b"\x1b[2Jcleared", "\\x1b[2Jcleared"),
    ("abc\u202eevil\u2066x\u200f".encode(), "abc\\u202eevil\\u2066x\\u200f"),
    (b"line\nnext\r\tz\x00\x7f", "line\\nnext\\r\\tz\\x00\\x7f"),
    (b"bad \xff\xfe utf-8", "bad \\xff\\xfe utf-8"),
    ("a\u2028b\U000e0041".encode(), "a\\u2028b\\U000e0041"),
    (None, ""),
])
def test_printable_prefix_escapes_what_a_terminal_would_obey(
    data: bytes | None, shown: str
) -> None:
    assert printable_prefix(data) == shown


def test_printable_prefix_is_capped_with_an_ellipsis() -> None:
    assert printable_prefix(b"x" * 60) == "x" * 60
    assert printable_prefix(b"x" * 61) == "x" * 59 + "…"
    # An escape is never cut in half.
    assert printable_prefix(b"x" * 57 + b"\x1b" + b"y") == "x" * 57 + "…"


@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_printable_prefix_never_lets_an_unsafe_character_through(data: bytes) -> None:
    shown = printable_prefix(data, limit=60)
    assert len(shown) <= 60
    assert not [c for c in shown if unicodedata.category(c) in UNSAFE]


# ---- header decoding ---------------------------------------------------------------

def test_a_dead_letter_decodes_to_what_the_worker_wrote() -> None:
    row = _row(_letter(Reason.FUTURE_EVENT, b'{"ts": 1}', index=4, detail="ts='x' ahead"))
    assert (row.reason, row.source_topic, row.source_partition, row.source_offset,
            row.source_index) == ("future_event", "ocop.views", 1, 7, 4)
    assert (row.detail, row.key, row.value, row.truncation) == ("ts='x' ahead", b"cp-1",
                                                                  b'{"ts": 1}', None)
    assert (row.dlq_partition, row.dlq_offset, row.dead_lettered_ms) == (0, 3,
                                                                         1_750_000_000_000)
    assert row.source == "ocop.views[1]@7#4"


def test_unknown_headers_are_ignored() -> None:
    row = _row(_letter(Reason.BAD_JSON, b"{"),
               extra=[("traceparent", b"00-abc"), ("reason", b"spoofed"), ("x", b"")])
    assert row.reason == "bad_json"  # the first of a repeated header wins
    assert row.source == "ocop.views[1]@7"


def test_a_truncated_value_and_key_are_marked_with_the_whole_length_and_hash() -> None:
    whole = b"[" + b"1," * 40_000 + b"1]"
    row = _row(_letter(Reason.TOO_LARGE, whole, key=b"k" * 5000))
    assert row.truncation is not None
    assert row.truncation.value_cut
    assert row.truncation.original_length == len(whole)
    assert row.truncation.original_sha256 == hashlib.sha256(whole).hexdigest()
    assert row.truncation.kept == len(row.value) < len(whole)
    assert row.truncation.original_key_length == 5000


@pytest.mark.parametrize("headers", [
    [("original_length", b"999")],
    [("original_sha256", b"00" * 32)],
    [("truncated", b"yes")],
])
def test_any_sign_of_a_cut_value_marks_it_truncated(headers: list[tuple[str, bytes]]) -> None:
    row = _row(_letter(Reason.TOO_LARGE, b"short"), extra=headers)
    assert row.truncation is not None and row.truncation.value_cut


def test_matching_length_and_hash_mean_a_whole_value() -> None:
    value = b"whole"
    row = _row(_letter(Reason.TOO_LARGE, value), extra=[
        ("original_length", b"5"), ("original_sha256", hashlib.sha256(value).hexdigest().encode()),
    ])
    assert row.truncation is None


def test_a_record_without_source_headers_names_what_is_missing() -> None:
    with pytest.raises(DeadLetterFormatError, match=r"\[2\]@9 lacks .*source_partition"):
        decode_dead_letter(partition=2, offset=9, timestamp_ms=0, key=None, value=b"x",
                           headers=[("reason", b"bad_json"), ("source_topic", b"t"),
                                    ("source_offset", b"1")])


def test_a_bad_number_names_the_header_and_its_value() -> None:
    with pytest.raises(DeadLetterFormatError, match=r"source_offset=b'-1'"):
        decode_dead_letter(partition=0, offset=0, timestamp_ms=0, key=None, value=b"x",
                           headers=[("reason", b"bad_json"), ("source_topic", b"t"),
                                    ("source_partition", b"0"), ("source_offset", b"-1")])


# ---- selection and replay decisions ------------------------------------------------

async def test_newest_keeps_the_most_recent_rows_in_time_order_and_counts_all() -> None:
    rows = [_row(_letter(reason, b"v", offset=i), ts=ts) for i, (reason, ts) in enumerate([
        (Reason.BAD_JSON, 50), (Reason.TOO_LATE, 10), (Reason.BAD_JSON, 40),
        (Reason.TOO_LATE, 30), (Reason.TOO_LATE, 20),
    ])]

    async def feed() -> AsyncIterator[DeadLetterRow]:
        for row in rows:
            yield row

    found = await newest(feed(), limit=3)
    assert [r.dead_lettered_ms for r in found.rows] == [30, 40, 50]
    assert found.by_reason == {"bad_json": 2, "too_late": 3}
    assert found.matched == 5


def test_replay_sends_only_whole_values_of_the_input_topics() -> None:
    settings = Settings(views_topic="v", orders_topic="o", sessions_topic="s")
    replay = Replay(settings, dry_run=True)
    assert replay.action(_row(_letter(Reason.HANDLER_ERROR, b"{}", topic="v"))) == "send"
    assert replay.action(_row(_letter(Reason.HANDLER_ERROR, b"{}", topic="o"))) == "send"
    assert replay.action(_row(_letter(Reason.INVALID_FIELD, b"{}", topic="s"))) == "not_input"
    cut = _row(_letter(Reason.TOO_LARGE, b"{}", topic="v"), extra=[("truncated", b"1")])
    assert replay.action(cut) == "truncated"


# ---- on the real Kafka and Redis ---------------------------------------------------

async def _cli(settings: Settings, *args: str, answer: str | None = None) -> Result:
    """``ocop-live ARGS`` in-process (its own event loop, in a thread) with ``settings``."""
    env = {k: v for k, v in settings_env(settings).items() if k.startswith("OCOP_")}
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env,
                                   input=answer)


async def _read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its end offsets now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    tps = [TopicPartition(topic, p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + seconds(30)
        while sum(ends.values()) > len(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records += [r for rows in batch.values() for r in rows]
    finally:
        await consumer.stop()
    return records


@pytest.mark.integration
async def test_show_and_replay_of_written_dead_letters(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    await ensure_topics(settings)
    views = settings.views_topic
    now_ms = time.time_ns() // 1_000_000
    hostile = "\x1b[2J\u202e{\"event_id\": \"e-evil\"}".encode()
    letters = [
        (_letter(Reason.FUTURE_EVENT, b'{"event_id": "f1"}', topic=views, partition=0,
                 offset=1), now_ms),
        (_letter(Reason.FUTURE_EVENT, hostile, topic=views, partition=2, offset=2,
                 key=b"cp-2"), now_ms),
        (_letter(Reason.FUTURE_EVENT, b'{"event_id": "f3"}', topic=views, partition=1,
                 offset=3, index=5), now_ms),
        (_letter(Reason.FUTURE_EVENT, b'{"session_id": "cp-1"}',
                 topic=settings.sessions_topic, partition=0, offset=4), now_ms),
        (_letter(Reason.BAD_JSON, b"{", topic=views, offset=5), now_ms - 2 * 3_600_000),
        (_letter(Reason.TOO_LARGE, b"[" + b"0," * 40_000 + b"0]", topic=views, offset=6),
         now_ms),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for letter, ts in letters:
            key, value, headers = encode_dead_letter(letter, LIMITS)
            await producer.send_and_wait(settings.dlq_topic, value, key=key, headers=headers,
                                         timestamp_ms=ts)
        # Someone else's record on the topic: skipped and counted, never a crash.
        await producer.send_and_wait(settings.dlq_topic, b"stray", headers=[("x", b"1")])
    finally:
        await producer.stop()

    shown = await _cli(settings, "dlq", "show")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("TIME (Asia/Ho_Chi_Minh)")
    assert len(lines) == 1 + 6 + 1
    assert lines[-1] == ("6 dead letters (showing the newest 6): future_event 4, bad_json 1, "
                         "too_large 1; 1 unreadable records skipped (see the log)")
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout
    assert "\\x1b[2J\\u202e{" in shown.stdout
    assert f"{views}[1]@3#5" in shown.stdout
    assert "value truncated to 65,536 of 80,003 bytes" in shown.stdout

    recent = await _cli(settings, "dlq", "show", "--since", "1h", "--limit", "2")
    assert recent.stdout.splitlines()[-1].startswith(
        "5 dead letters (showing the newest 2): future_event 4, too_large 1")
    only = await _cli(settings, "dlq", "show", "--reason", "bad_json")
    assert only.stdout.splitlines()[-1].startswith("1 dead letters (showing the newest 1)")
    unknown = await _cli(settings, "dlq", "show", "--reason", "bad-json")
    assert unknown.exit_code == 2 and "'bad-json'" in unknown.output

    dry = await _cli(settings, "dlq", "replay", "--reason", "too_large", "--dry-run")
    assert "REFUSED (truncated)" in dry.stdout
    assert dry.stdout.splitlines()[-1].startswith(
        "would replay 0 too_large dead letters; would refuse 1 truncated")
    declined = await _cli(settings, "dlq", "replay", "--reason", "future_event", answer="n\n")
    assert declined.exit_code == 1 and "would replay 3 future_event" in declined.output
    assert await _read_topic(settings, views) == []

    done = await _cli(settings, "dlq", "replay", "--reason", "future_event", "--yes")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[-1] == (
        "replayed 3 future_event dead letters; refused 0 truncated (they cannot be replayed "
        "whole); skipped 1 not from the views or orders topic")
    sent = await _read_topic(settings, views)
    assert sorted((r.partition, r.key, r.value) for r in sent) == [
        (0, b"cp-1", b'{"event_id": "f1"}'), (1, b"cp-1", b'{"event_id": "f3"}'),
        (2, b"cp-2", hostile),
    ]
    assert all(dict(r.headers)["replayed_from"].startswith(settings.dlq_topic.encode())
               for r in sent)


@pytest.mark.integration
async def test_a_missing_topic_is_named(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    result = await _cli(settings, "dlq", "show")
    assert result.exit_code == 1
    assert f"dead-letter topic {settings.dlq_topic!r} (OCOP_DLQ_TOPIC) does not exist" in (
        result.output)


def _duplicates(settings: Settings) -> float:
    """The worker's ``ocop_duplicate_events_total``."""
    url = f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("ocop_duplicate_events_total "))


def _counted(drift: Drift) -> tuple[int, int, list[str]]:
    """Lost, double-counted and the mismatching numbers, peaks aside: a peak depends on the
    order events arrive in, and a replay brings its events after the others."""
    return drift.lost, drift.double_counted, [
        m for m in drift.mismatches if ".peak_" not in m]


@pytest.mark.integration
async def test_a_second_replay_after_the_fix_counts_nothing_twice(
    make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    # Events whose id starts with "a" (1 in 16) fail in the worker's handler until the
    # "fix": a worker started without the fault injection.
    prefix = "a"
    faulty = make_settings(fault_event_prefix=prefix)
    fixed = faulty.model_copy(update={"fault_event_prefix": ""})
    await ensure_topics(faulty)
    # 8 sessions of the sample's Cần Giờ fair, and that fair.
    sample = load_catalog(SAMPLE_CATALOG)
    catalog = sample.with_sessions(sample.for_fair("cg-2023-11-25").sessions[:8])
    now_ms = time.time_ns() // 1_000_000
    fair = generate(catalog, FairConfig(start_ms=now_ms - 10 * 60_000, span_ms=10 * 60_000,
                                        events=3000, seed=23))
    failing = sum(1 for m in fair.messages if m.invalid_reason is None
                  for e in m.events if str(e["event_id"]).startswith(prefix))
    assert failing > 50
    truth = compute_truth(fair.messages, fair.catalog, seed=23)
    target = KafkaTarget(faulty.kafka_bootstrap, faulty.views_topic, faulty.orders_topic,
                         faulty.sessions_topic)
    with running(faulty, "worker", tmp_path):
        await send_fair(fair, target, paced=False, progress=False)
        await wait_caught_up(faulty, timeout_s=120)
    assert (await drift_from_truth(faulty, truth)).lost > 0

    listed = await _cli(fixed, "dlq", "show", "--reason", "handler_error", "--limit", "1")
    assert listed.stdout.splitlines()[-1].startswith(f"{failing:,} dead letters")
    letters_before = len(await _read_topic(fixed, fixed.dlq_topic))

    with running(fixed, "worker", tmp_path):
        results = []
        for _ in range(2):
            replayed = await _cli(fixed, "dlq", "replay", "--reason", "handler_error", "--yes")
            assert replayed.exit_code == 0, replayed.output
            assert replayed.stdout.startswith(f"replayed {failing:,} handler_error")
            await wait_caught_up(fixed, timeout_s=120)
            results.append((_counted(await drift_from_truth(fixed, truth)),
                            _duplicates(fixed)))
    (first, duplicates_first), (second, duplicates_second) = results
    assert first == (0, 0, [])
    assert second == first
    # The second replay was all skipped by the worker's dedup, and dead-lettered nothing.
    assert duplicates_second - duplicates_first == failing
    assert len(await _read_topic(fixed, fixed.dlq_topic)) == letters_before
