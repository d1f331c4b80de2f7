"""Dead letters → the report's summary by reason (pure), and a Kafka that is not there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from common.settings import Settings
from consumers.deadletters import DeadLetterRow, decode_dead_letter
from counting.contract import Reason, Rejected
from counting.delta import DeadLetter
from devtools.stack.ports import pick_free_ports
from reports.deadletters import summarize, tally
from streams.deadletters import DeadLetterLimits, encode_dead_letter


def _row(reason: Reason, key: bytes | None) -> DeadLetterRow:
    letter = DeadLetter("ocop.views", 0, 7, key, Rejected(b"{}", reason, "why", 0))
    key, value, headers = encode_dead_letter(letter, DeadLetterLimits(65_536))
    return decode_dead_letter(partition=0, offset=1, timestamp_ms=1, key=key, value=value,
                              headers=headers)


async def _each(rows: list[DeadLetterRow]) -> AsyncIterator[DeadLetterRow]:
    for row in rows:
        yield row


async def test_dead_letters_are_counted_by_reason_and_by_the_fairs_keys() -> None:
    rows = [_row(Reason.BAD_JSON, b"cg-1"), _row(Reason.BAD_JSON, b"other"),
            _row(Reason.ORDER_HORIZON, b"cg-2"), _row(Reason.TOO_LARGE, None)]
    by_reason, mine = await tally(_each(rows), {"cg-1", "cg-2"})
    assert by_reason == {"bad_json": 2, "order_horizon": 1, "too_large": 1}
    assert mine == {"bad_json": 1, "order_horizon": 1}
    assert await tally(_each(rows), None) == (by_reason, None)


async def test_a_kafka_that_cannot_be_reached_gives_a_summary_that_says_so(
    caplog: pytest.LogCaptureFixture, make_unreachable: Callable[[], Settings],
) -> None:
    settings = make_unreachable()
    summary = await asyncio.wait_for(summarize(settings, members=None), 30)
    assert summary.total == 0
    assert summary.problem is not None and settings.kafka_bootstrap in summary.problem
    assert "OCOP_KAFKA_BOOTSTRAP" in caplog.text and "ocop-live report again" in caplog.text


@pytest.fixture
def make_unreachable() -> Callable[[], Settings]:
    """Settings whose Kafka is a loopback port nothing listens on."""

    def make() -> Settings:
        (port,) = pick_free_ports(1)
        return Settings(kafka_bootstrap=f"127.0.0.1:{port}")

    return make
