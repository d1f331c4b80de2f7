"""Scopes against the real Redis and the real write path: a fair's board counts only its
own sessions, the fairs list and the campaign are exact, screens subscribe per fair.

Three fairs: one ended yesterday (its session earned the most), one live now and one
next week; and a session the catalog does not list, which counts in the campaign only.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.catalog import Catalog, Fair, Product, SessionInfo
from common.settings import Settings
from common.tokens import HostTokens
from store.catalog import CatalogStore
from store.keys import Keys
from store.windows import local_day
from tests.conftest import seconds
from tests.web.writes import ORDERS, VIEWS, count, join, now_ms, order, store_catalog
from web.server import WebApp

pytestmark = pytest.mark.integration

H = 3_600_000


def _clear_of_midnight(ms: int) -> int:
    """A "now" at least ten minutes before the local midnight: the tests read "today" a
    few seconds after writing, and the web clock (below) starts here, so both see one day."""
    margin = 10 * 60_000
    return ms - margin if local_day(ms) != local_day(ms + margin) else ms


NOW = _clear_of_midnight(now_ms())


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+07:00", time.gmtime(ms // 1000 + 7 * 3600))


def _fair(fair_id: str, title: str, place: str, province: str, start: int, end: int) -> Fair:
    return Fair(fair_id=fair_id, title=title, place=place, province=province,
                start=_iso(start), end=_iso(end))


def _session(sid: str, fair_id: str, shop: str, province: str, start: int, end: int,
             product: str) -> SessionInfo:
    return SessionInfo(session_id=sid, title=f"Phiên {shop}", host=f"Người bán {shop}",
                       shop=shop, province=province, scheduled_start=_iso(start),
                       scheduled_end=_iso(end), fair_id=fair_id,
                       products=[Product(product, f"Sản phẩm {product}", 4, 100_000)])


CATALOG = Catalog(
    fairs=[
        _fair("bk-old", "Chợ phiên OCOP - Bắc Kạn", "TP. Bắc Kạn", "Bắc Kạn",
              NOW - 30 * H, NOW - 20 * H),
        _fair("cg-now", "Chợ phiên OCOP - Cần Giờ", "Cần Giờ, TP.HCM", "TP.HCM",
              NOW - 4 * H, NOW + 6 * H),
        _fair("dl-next", "Chợ phiên OCOP - Đắk Lắk", "Buôn Ma Thuột", "Đắk Lắk",
              NOW + 48 * H, NOW + 58 * H),
    ],
    sessions=[
        _session("bk-1", "bk-old", "HTX Chè Bắc Kạn", "Bắc Kạn", NOW - 28 * H, NOW - 26 * H,
                 "bk-che"),
        _session("cg-1", "cg-now", "HTX Thủy sản Cần Giờ", "TP.HCM", NOW - H, NOW + H,
                 "cg-kho"),
        _session("cg-2", "cg-now", "HTX Miến dong Bắc Kạn", "Bắc Kạn", NOW - 3 * H,
                 NOW - 2 * H, "bk-che"),
        _session("cg-3", "cg-now", "HTX Chè Tân Cương", "Thái Nguyên", NOW - H, NOW + 2 * H,
                 "tn-che"),
        _session("cg-4", "cg-now", "Cơ sở Bánh cốm Hà Nội", "Hà Nội", NOW + H, NOW + 2 * H,
                 "hn-com"),
        _session("dl-1", "dl-next", "HTX Cà phê Buôn Ma Thuột", "Đắk Lắk", NOW + 49 * H,
                 NOW + 50 * H, "dl-cafe"),
    ],
)


@dataclass(frozen=True)
class Counted:
    """One event the test counted, for the expected figures."""

    session: str
    ts: int
    views: int = 0
    gmv: int = 0
    viewer: str | None = None


async def _write(settings: Settings, redis: Redis) -> list[Counted]:
    """Every event through the real write path, older ones first in each shard."""
    await store_catalog(settings, redis, CATALOG)
    counted: list[Counted] = []
    plan = [  # (shard, session, ts, viewers, orders)
        (0, "bk-1", NOW - 27 * H, ["u1", "u2", "u3"], [900_000, 500_000]),
        (0, "cg-1", NOW - 60_000, ["u1", "u4"], [200_000]),
        (0, "x-1", NOW - 10_000, ["u9"], [10_000]),
        (1, "cg-2", NOW - 150 * 60_000, ["u5"], [120_000]),
        (1, "cg-3", NOW - 30_000, ["u6", "u7", "u1"], [80_000]),
    ]
    product = {s.session_id: s.products[0].product_id for s in CATALOG.sessions}
    for shard, sid, ts, viewers, amounts in plan:
        await count(settings, redis, VIEWS,
                    [join(f"v-{sid}-{v}", sid, v, ts=ts) for v in viewers], shard=shard)
        await count(settings, redis, ORDERS,
                    [order(f"o-{sid}-{i}", sid, amount, product.get(sid, "p1"), ts=ts)
                     for i, amount in enumerate(amounts)], shard=shard)
        counted += [Counted(sid, ts, views=1, viewer=v) for v in viewers]
        counted += [Counted(sid, ts, gmv=amount) for amount in amounts]
    return counted


def _expected(counted: list[Counted], sessions: set[str]) -> dict[str, int]:
    mine = [c for c in counted if c.session in sessions]
    return {"views": sum(c.views for c in mine), "orders": sum(1 for c in mine if c.gmv),
            "units": sum(1 for c in mine if c.gmv), "gmv_vnd": sum(c.gmv for c in mine),
            "viewers_now": sum(c.views for c in mine),
            "unique_viewers": len({c.viewer for c in mine if c.viewer})}


def _today(counted: list[Counted], sessions: set[str]) -> dict[str, int]:
    day = local_day(NOW)
    mine = [c for c in counted if c.session in sessions and local_day(c.ts) == day]
    return {"views": sum(c.views for c in mine), "orders": sum(1 for c in mine if c.gmv),
            "units": sum(1 for c in mine if c.gmv), "gmv_vnd": sum(c.gmv for c in mine)}


class Clock:
    """The web process's wall clock: it starts at NOW however long after the import the
    test runs, and the test moves it by ``offset``."""

    def __init__(self) -> None:
        self.offset = 0
        self._started = now_ms()

    def __call__(self) -> int:
        return NOW + now_ms() - self._started + self.offset


@dataclass
class Served:
    settings: Settings
    redis: Redis
    app: WebApp
    clock: Clock
    counted: list[Counted]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"


@pytest.fixture
async def served(make_settings: Callable[..., Settings]) -> AsyncIterator[Served]:
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    counted = await _write(settings, redis)
    clock = Clock()
    app = WebApp(settings=settings, clock=clock)
    try:
        async with app.serving():
            yield Served(settings, redis, app, clock, counted)
    finally:
        await redis.aclose()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=seconds(5)) as r:  # noqa: S310
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _api(served: Served, path: str, headers: dict[str, str] | None = None) -> Any:
    status, body = await asyncio.to_thread(_get, served.base + path, headers)
    assert status == 200, (path, status, body)
    return body


async def test_a_fairs_board_counts_only_that_fairs_sessions(served: Served) -> None:
    cg = {"cg-1", "cg-2", "cg-3", "cg-4"}
    default = await _api(served, "/api/board")
    board = await _api(served, "/api/board?fair=cg-now")
    # The default fair is the one live now. (Two reads: the clock's windows may differ.)
    moving = {"as_of", "windows", "series"}
    assert {k: v for k, v in default.items() if k not in moving} == \
        {k: v for k, v in board.items() if k not in moving}
    assert board["fair"] == {"fair_id": "cg-now", "title": "Chợ phiên OCOP - Cần Giờ",
                             "place": "Cần Giờ, TP.HCM", "province": "TP.HCM",
                             "start": _iso(NOW - 4 * H), "end": _iso(NOW + 6 * H),
                             "status": "live"}
    assert board["totals"] == _expected(served.counted, cg)
    assert board["windows"]["fair"] == {k: board["totals"][k]
                                        for k in ("views", "orders", "units", "gmv_vnd")}
    assert board["windows"]["today"] == _today(served.counted, cg)
    assert board["windows"]["60m"]["views"] == 5 == sum(row["views"] for row in board["series"])
    # Yesterday's winner (bk-1, 1,4 triệu ₫) is not on today's board.
    assert [(s["session_id"], s["gmv_vnd"]) for s in board["top_sessions_gmv"]] == [
        ("cg-1", 200_000), ("cg-2", 120_000), ("cg-3", 80_000)]
    # cg-2 ended two hours ago: its last count is not "watching now".
    assert [s["session_id"] for s in board["top_sessions_viewers"]] == ["cg-3", "cg-1"]
    assert [(p["product_id"], p["units"], p["gmv_vnd"]) for p in board["top_products"]] == [
        ("bk-che", 1, 120_000), ("cg-kho", 1, 200_000), ("tn-che", 1, 80_000)]
    # Bắc Kạn (cg-2) has been part of Thái Nguyên (cg-3) since 2025: one row.
    assert board["top_provinces"] == [
        {"province": "Hồ Chí Minh", "gmv_vnd": 200_000, "orders": 1},
        {"province": "Thái Nguyên", "gmv_vnd": 200_000, "orders": 2}]
    assert [(s["session_id"], s["status"]) for s in board["schedule"]] == [
        ("cg-2", "ended"), ("cg-1", "live"), ("cg-3", "live"), ("cg-4", "next")]
    assert board["schedule"][1]["scheduled_start"] == _iso(NOW - H)
    assert board["campaign"] == await _api(served, "/api/campaign")

    old = await _api(served, "/api/board?fair=bk-old")
    assert old["fair"]["status"] == "ended"
    assert old["totals"] == _expected(served.counted, {"bk-1"})
    assert [s["session_id"] for s in old["top_sessions_gmv"]] == ["bk-1"]
    assert old["top_sessions_viewers"] == []
    assert old["top_provinces"] == [{"province": "Thái Nguyên", "gmv_vnd": 1_400_000,
                                     "orders": 2}]
    assert old["schedule"] == [{"session_id": "bk-1", "title": "Phiên HTX Chè Bắc Kạn",
                                "host": "Người bán HTX Chè Bắc Kạn", "shop": "HTX Chè Bắc Kạn",
                                "scheduled_start": _iso(NOW - 28 * H),
                                "scheduled_end": _iso(NOW - 26 * H), "status": "ended"}]

    upcoming = await _api(served, "/api/board?fair=dl-next")
    assert upcoming["fair"]["status"] == "upcoming"
    assert upcoming["totals"] == dict.fromkeys(upcoming["totals"], 0)
    assert [(s["session_id"], s["status"]) for s in upcoming["schedule"]] == [("dl-1", "next")]


async def test_fairs_and_campaign_are_exact(served: Served) -> None:
    fairs = await _api(served, "/api/fairs")
    assert [(f["fair_id"], f["status"]) for f in fairs] == [
        ("bk-old", "ended"), ("cg-now", "live"), ("dl-next", "upcoming")]
    members = {"bk-old": {"bk-1"}, "cg-now": {"cg-1", "cg-2", "cg-3", "cg-4"},
               "dl-next": {"dl-1"}}
    for fair in fairs:
        assert fair["totals"] == _expected(served.counted, members[fair["fair_id"]]), fair
    assert fairs[2]["place"] == "Buôn Ma Thuột"
    everything = _expected(served.counted, {c.session for c in served.counted})
    assert await _api(served, "/api/campaign") == {
        # bk-1, cg-1, cg-2, cg-3: x-1 is counted but no catalogued session.
        "sessions": 4,
        # Bắc Kạn and Thái Nguyên are one province today, TP.HCM the other.
        "provinces": 2,
        "fairs": 2,
        "views": everything["views"],
        "orders": everything["orders"],
        "gmv_vnd": everything["gmv_vnd"],
        "unique_viewers": everything["unique_viewers"],
    }


async def test_unknown_and_bad_fair_ids_are_refused_naming_them(served: Served) -> None:
    cases = [
        ("/api/board?fair=nope", 404, {"error": "unknown_fair", "fair": "nope"}),
        # The implicit fair exists only in a catalog without fairs.
        ("/api/board?fair=fair", 404, {"error": "unknown_fair", "fair": "fair"}),
        ("/api/board?fair=no%20such", 400,
         {"error": "bad_fair", "parameter": "fair", "fair": "no such"}),
        ("/api/board?fair=a&fair=b", 400,
         {"error": "duplicate_parameter", "parameter": "fair"}),
    ]
    for path, status, body in cases:
        assert await asyncio.to_thread(_get, served.base + path) == (status, body), path
    # A screen's socket is refused before the upgrade, with the same answer.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://127.0.0.1:{served.settings.web_port}/ws/board?fair=no%20such"):
            pass
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body) == cases[2][2]


async def test_the_host_rank_is_within_the_sessions_fair(served: Served) -> None:
    tokens = HostTokens(secret=served.settings.token_secret.get_secret_value())

    async def page(sid: str) -> Any:
        token = tokens.issue(sid, expires_at_ms=now_ms() + 60_000)
        return await _api(served, f"/api/sessions/{sid}",
                          {"Authorization": f"Bearer {token}"})

    third = await page("cg-3")
    assert (third["rank_gmv"], third["sessions_ranked"], third["gap_to_next_vnd"]) == (
        3, 4, 40_000)
    assert third["fair"]["fair_id"] == "cg-now"
    leader = await page("cg-1")
    # bk-1 earned 1,4 triệu ₫ yesterday, at another fair: cg-1 leads its own.
    assert (leader["rank_gmv"], leader["sessions_ranked"], leader["gap_to_next_vnd"]) == (
        1, 4, None)
    alone = await page("bk-1")
    assert (alone["rank_gmv"], alone["sessions_ranked"]) == (1, 1)


async def _recv(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))  # type: ignore[no-any-return]


async def test_screens_subscribe_to_their_fair(served: Served) -> None:
    url = f"ws://127.0.0.1:{served.settings.web_port}/ws/board"
    async with connect(f"{url}?fair=bk-old") as old, connect(url) as today:
        snapshot = await _recv(old)
        assert snapshot["type"] == "snapshot"
        assert snapshot["board"]["fair"]["fair_id"] == "bk-old"
        assert snapshot["board"]["totals"]["gmv_vnd"] == 1_400_000
        assert (await _recv(today))["board"]["fair"]["fair_id"] == "cg-now"
        await count(served.settings, served.redis, ORDERS,
                    [order("o-late", "bk-1", 50_000, "bk-che")])
        while True:
            message = await _recv(old)
            if message["type"] == "change" and "totals" in message["changes"]:
                break
        assert message["changes"]["totals"]["gmv_vnd"] == 1_450_000
        assert message["seq"] == snapshot["seq"] + 1
        # The live fair's screen hears of the campaign's new figures, not of bk-1's sale.
        while True:
            message = await _recv(today)
            if message["type"] != "change":
                continue
            assert "totals" not in message["changes"]
            if "campaign" in message["changes"]:
                break
        assert message["changes"]["campaign"]["gmv_vnd"] == 1_860_000
        assert {screen.channel.key for screen in served.app.hub.clients.values()} == {
            "bk-old", None}

    async with connect(f"{url}?fair=nope") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await _recv(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4404, "unknown_fair nope")


async def _until_default(served: Served, fair_id: str, status: str) -> None:
    deadline = time.monotonic() + seconds(10)
    while True:
        fair = (await _api(served, "/api/board"))["fair"]
        if (fair["fair_id"], fair["status"]) == (fair_id, status):
            return
        assert time.monotonic() < deadline, f"the default fair never became {fair_id}"
        await asyncio.sleep(0.05)


def _gauge(name: str, fair_id: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"fair": fair_id})


async def test_the_default_fair_moves_on_and_only_live_fairs_have_metrics(
    served: Served,
) -> None:
    assert _gauge("ocop_fair_gmv_vnd", "cg-now") == 400_000
    assert _gauge("ocop_fair_views", "cg-now") == 6
    assert _gauge("ocop_fair_orders", "cg-now") == 3
    assert _gauge("ocop_fair_viewers_now", "cg-now") == 6
    assert _gauge("ocop_fair_gmv_vnd", "bk-old") is None
    # After the live fair's end: the next one to start.
    served.clock.offset = 7 * H
    await _until_default(served, "dl-next", "upcoming")
    assert _gauge("ocop_fair_gmv_vnd", "cg-now") is None, "an ended fair keeps its series"
    # After every fair: the one that ended last.
    served.clock.offset = 60 * H
    await _until_default(served, "dl-next", "ended")
    # Before every fair: the first to start.
    served.clock.offset = -31 * H
    await _until_default(served, "bk-old", "upcoming")


async def test_a_fair_without_screens_is_not_rebuilt_and_a_returning_screen_catches_up(
    served: Served,
) -> None:
    hub = served.app.hub
    url = f"ws://127.0.0.1:{served.settings.web_port}/ws/board?fair=bk-old"
    async with connect(url) as ws:
        snapshot = await _recv(ws)
    epoch, seq = snapshot["epoch"], snapshot["seq"]
    deadline = time.monotonic() + seconds(10)
    while hub.channels["bk-old"].clients:
        assert time.monotonic() < deadline, "the screen never left"
        await asyncio.sleep(0.05)
    idle_since = hub.channels["bk-old"].built_at
    await count(served.settings, served.redis, ORDERS,
                [order("o-while-away", "bk-1", 50_000, "bk-che")])
    # The default fair's board shows the sale in the campaign strip: a tick has run.
    while (hub.board or {}).get("campaign", {}).get("gmv_vnd") != 1_860_000:
        assert time.monotonic() < deadline, "the tick never saw the sale"
        await asyncio.sleep(0.05)
    assert hub.channels["bk-old"].built_at == idle_since, "a fair without screens was built"
    async with connect(f"{url}&epoch={epoch}&seq={seq}") as ws:
        change = await _recv(ws)
        assert (change["type"], change["seq"]) == ("change", seq + 1)
        assert change["changes"]["totals"]["gmv_vnd"] == 1_450_000
        assert (await _recv(ws))["type"] == "heartbeat"


async def test_screens_of_a_fair_that_leaves_the_catalog_are_told(served: Served) -> None:
    url = f"ws://127.0.0.1:{served.settings.web_port}/ws/board?fair=dl-next"
    async with connect(url) as ws:
        assert (await _recv(ws))["board"]["fair"]["fair_id"] == "dl-next"
        await CatalogStore(served.redis, keys=Keys(served.settings.key_prefix)).apply(
            {}, fairs={"dl-next": None})
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await _recv(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4404, "unknown_fair dl-next")
    assert "dl-next" not in served.app.hub.channels
    status, body = await asyncio.to_thread(_get, f"{served.base}/api/board?fair=dl-next")
    assert (status, body) == (404, {"error": "unknown_fair", "fair": "dl-next"})
