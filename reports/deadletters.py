"""The report's dead-letter summary: records the worker could not count, by reason.

Read with the reader ``ocop-live dlq show`` uses (``consumers.deadletters``): the whole
topic, no consumer group, nothing committed. Input records are keyed by session id, so a
fair's report also says how many dead letters carry one of its sessions' keys. A Kafka
that cannot be reached does not stop the report: the summary says so, and the log says
what to do.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from common.settings import Settings
from consumers.deadletters import DeadLetterReader, DeadLetterRow, DeadLetterTopicMissing
from counting.contract import Reason

log = logging.getLogger(__name__)

# A broker that accepts the connection but never answers gets this long in all.
READ_TIMEOUT_S = 60.0
# What each reason code means, for a partner reading the report.
REASON_TEXT: dict[str, str] = {
    Reason.TOO_LARGE: "Bản ghi vượt kích thước cho phép",
    Reason.BAD_JSON: "Không phải JSON hợp lệ",
    Reason.BAD_ENVELOPE: "Gói nhiều sự kiện sai cấu trúc",
    Reason.INVALID_FIELD: "Trường dữ liệu sai hoặc thiếu",
    Reason.BAD_TIMESTAMP: "Thời điểm sự kiện không đọc được",
    Reason.KEY_MISMATCH: "Khóa bản ghi khác mã phiên trong sự kiện",
    Reason.WRONG_PARTITION: "Bản ghi nằm sai phân vùng Kafka",
    Reason.FUTURE_EVENT: "Thời điểm sự kiện ở tương lai",
    Reason.TOO_LATE: "Sự kiện đến quá muộn",
    Reason.ORDER_HORIZON: "Đổi trạng thái đơn sau thời hạn của đơn",
    Reason.HANDLER_ERROR: "Lỗi khi xử lý",
}


@dataclass(frozen=True, slots=True)
class DeadLetterSummary:
    """Dead letters by reason; ``of_members`` counts those keyed by the report's sessions
    (None for the campaign). ``problem`` says why the topic could not be read."""

    topic: str
    by_reason: Counter[str] = field(default_factory=Counter)
    of_members: Counter[str] | None = None
    unreadable: int = 0
    problem: str | None = None

    @property
    def total(self) -> int:
        """How many dead letters the topic holds (of those read)."""
        return sum(self.by_reason.values())


async def tally(rows: AsyncIterator[DeadLetterRow], members: Collection[str] | None
                ) -> tuple[Counter[str], Counter[str] | None]:
    """Count ``rows`` by reason, and those keyed by one of ``members`` apart."""
    by_reason: Counter[str] = Counter()
    of_members: Counter[str] | None = None if members is None else Counter()
    async for row in rows:
        by_reason[row.reason] += 1
        if of_members is not None and members is not None and row.key is not None and (
                row.key.decode("utf-8", "replace") in members):
            of_members[row.reason] += 1
    return by_reason, of_members


async def _scan(reader: DeadLetterReader, members: Collection[str] | None
                ) -> tuple[Counter[str], Counter[str] | None]:
    window = await reader.window()
    return await tally(reader.rows(window), members)


async def summarize(settings: Settings, *, members: Collection[str] | None,
                    timeout_s: float = READ_TIMEOUT_S) -> DeadLetterSummary:
    """The dead-letter topic's summary, or one whose ``problem`` says why it is missing."""
    topic = settings.dlq_topic
    reader = DeadLetterReader(settings)
    try:
        async with asyncio.timeout(timeout_s):
            try:
                # Entered by hand, not with ``async with``: a start that fails half-way
                # (no broker) must still be stopped, or its connections stay open.
                await reader.__aenter__()
                by_reason, of_members = await _scan(reader, members)
            finally:
                await reader.__aexit__(None, None, None)
    except DeadLetterTopicMissing as exc:
        log.warning("%s; the report says so", exc)
        return DeadLetterSummary(topic, problem=f"Kafka chưa có topic {topic!r}: chưa có bản "
                                 "ghi lỗi nào, hoặc OCOP_DLQ_TOPIC trỏ sai topic.")
    except (KafkaError, OSError, TimeoutError) as exc:
        log.warning("cannot read the dead-letter topic %r from Kafka at %s "
                    "(OCOP_KAFKA_BOOTSTRAP): %s; the report says so. Start Kafka or point "
                    "OCOP_KAFKA_BOOTSTRAP at it, then run ocop-live report again for the "
                    "dead-letter summary", topic, settings.kafka_bootstrap,
                    str(exc) or type(exc).__name__)
        return DeadLetterSummary(topic, problem=(
            f"Không đọc được topic {topic!r} từ Kafka tại {settings.kafka_bootstrap}: báo "
            "cáo này không có phần bản ghi lỗi. Hãy chạy lại ocop-live report khi Kafka "
            "hoạt động."))
    return DeadLetterSummary(topic, by_reason, of_members, reader.unreadable)

