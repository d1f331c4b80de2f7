"""The webhook parts without a server: signatures, the sources file, the TikTok Shop mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.events import check_events, decoders
from ingest.tiktok_shop import (
    BadDetail,
    BadNotification,
    LineItem,
    LookupUnavailable,
    detail_items,
    order_events,
    order_status,
    parse_notification,
)
from ingest.webhooks import BadSignature, SourceError, load_sources, signature_header, verify

SECRET = "s3cret-s3cret-s3cret"  # noqa: S105  (the test's own)
BODY = b'{"type": 1}'


def test_a_signature_of_the_body_and_its_time_verifies() -> None:
    header = signature_header(SECRET, BODY, 1_764_583_200)
    assert verify(header, BODY, SECRET, now_s=1_764_583_200 + 299, tolerance_s=300) == \
        1_764_583_200


@pytest.mark.parametrize(("header", "body", "error"), [
    (None, BODY, "missing_signature"),
    ("", BODY, "missing_signature"),
    ("sha256=abc", BODY, "bad_signature"),
    (signature_header("another-secret-000", BODY, 1_764_583_200), BODY, "bad_signature"),
    (signature_header(SECRET, BODY, 1_764_583_200), b'{"type": 2}', "bad_signature"),
    # The time is signed: moving it breaks the signature.
    (signature_header(SECRET, BODY, 1_764_583_200).replace("t=1764583200", "t=1764583201"),
     BODY, "bad_signature"),
    ("t=1764583200,s=đ", BODY, "bad_signature"),
    (signature_header(SECRET, BODY, 1_764_583_200 - 301), BODY, "stale_timestamp"),
    (signature_header(SECRET, BODY, 1_764_583_200 + 301), BODY, "stale_timestamp"),
])
def test_missing_forged_and_stale_signatures_are_refused(
        header: str | None, body: bytes, error: str) -> None:
    with pytest.raises(BadSignature) as refused:
        verify(header, body, SECRET, now_s=1_764_583_200, tolerance_s=300)
    assert refused.value.error == error


def test_the_sources_file_is_checked_and_named_in_its_errors(tmp_path: Path) -> None:
    assert load_sources("") == {}
    good = tmp_path / "sources.toml"
    good.write_text(f'[sources.tts]\nmapping = "tiktok-shop"\nsecret = "{SECRET}"\n'
                    f'amount_url = "http://127.0.0.1:1/o?ids={{order_id}}"\n'
                    f'sessions = {{ "749" = "cp-01" }}\n')
    assert load_sources(str(good))["tts"].sessions == {"749": "cp-01"}
    for text in ('[sources.tts]\nmapping = "shopee"\n', "not toml [",
                 f'[sources.tts]\nmapping = "tiktok-shop"\nsecret = "{SECRET}"\n'
                 f'amount_url = "http://127.0.0.1:1/o"\n'):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(SourceError, match=r"bad\.toml"):
            load_sources(str(bad))
    with pytest.raises(SourceError, match=r"missing\.toml"):
        load_sources(str(tmp_path / "missing.toml"))


def _notification(kind: int = 1, **data: object) -> bytes:
    return json.dumps({"type": kind, "tts_notification_id": "7327", "shop_id": "749",
                       "timestamp": 1_764_583_260,
                       "data": {"order_id": "5760", **data}}).encode()


@pytest.mark.parametrize(("kind", "data", "status"), [
    (1, {"order_status": "UNPAID"}, "placed"),
    (1, {"order_status": "AWAITING_SHIPMENT"}, "paid"),
    (1, {"order_status": "COMPLETED"}, "paid"),
    (1, {"order_status": "CANCELLED"}, "cancelled"),
    (12, {"return_status": "RETURN_OR_REFUND_REQUEST_COMPLETE"}, "refunded"),
    (12, {"return_status": "AWAITING_BUYER_SHIP"}, None),
    (4, {}, None),
])
def test_statuses_map_to_the_contract(kind: int, data: dict[str, object],
                                      status: str | None) -> None:
    assert order_status(parse_notification(_notification(kind, **data))) == status


def test_an_unknown_order_status_and_junk_are_refused_by_name() -> None:
    with pytest.raises(BadNotification, match="'LOST_IN_SPACE'"):
        order_status(parse_notification(_notification(order_status="LOST_IN_SPACE")))
    for junk in (b"hello", b"[]", b'{"type": 1}', b"\xff"):
        with pytest.raises(BadNotification):
            parse_notification(junk)


def _detail(*items: dict[str, object], code: int = 0) -> bytes:
    return json.dumps({"code": code, "message": "Success" if code == 0 else "busy",
                       "data": {"orders": [{"id": "5760", "line_items": list(items)}]}}).encode()


def _item(i: int, price: str = "150000", **more: object) -> dict[str, object]:
    return {"id": f"li{i}", "product_id": f"p{i}", "sale_price": price, "currency": "VND",
            **more}


def test_order_detail_gives_amounts_per_line_item() -> None:
    items = detail_items(_detail(_item(1), _item(2, "99000.00", quantity=3)), "5760")
    assert items == [LineItem("li1", "p1", 1, 150_000), LineItem("li2", "p2", 3, 297_000)]


@pytest.mark.parametrize("body", [
    _detail(_item(1, currency="USD")), _detail(_item(1, "1.5")), _detail(_item(1, "abc")),
    _detail(), b"<html>", json.dumps({"code": 0, "data": {"orders": []}}).encode(),
])
def test_an_order_detail_that_cannot_count_is_bad(body: bytes) -> None:
    with pytest.raises(BadDetail):
        detail_items(body, "5760")


def test_an_error_code_means_retry_later() -> None:
    with pytest.raises(LookupUnavailable, match="busy"):
        detail_items(_detail(_item(1), code=105_001), "5760")


def test_one_event_per_line_item_that_the_worker_decoder_accepts() -> None:
    notification = parse_notification(_notification(order_status="AWAITING_SHIPMENT",
                                                    update_time=1_764_583_250))
    items = [LineItem("li1", "p1", 1, 150_000), LineItem("li2", "p2", 2, 80_000)]
    events = order_events(notification, "paid", items, session_id="cp-01")
    assert [(e["event_id"], e["order_id"], e["amount_vnd"]) for e in events] == [
        ("7327:li1", "5760:li1", 150_000), ("7327:li2", "5760:li2", 80_000)]
    assert {e["ts"] for e in events} == {1_764_583_250_000}
    checked = check_events([json.dumps(e).encode() for e in events], decoders(1_048_576))
    assert (len(checked.valid), checked.problems) == (2, [])
    assert {v.topic_kind for v in checked.valid} == {"orders"}
