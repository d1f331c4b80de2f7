"""Staff controls: a message, a hidden session and the fair goal, set with the staff
commands, shown alike by two web processes served from one Redis, and still there after
a web restart."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from playwright.async_api import Browser
from redis.asyncio import Redis

from cli.main import main
from common.catalog import SAMPLE_CATALOG, Catalog, load_catalog
from common.settings import Settings
from devtools.screenshots import BOARD_VIEWPORT, SHOWN_FAIR, live_fair
from devtools.stack.ports import pick_free_ports
from store.keys import Keys
from tests.conftest import seconds, settings_env
from tests.processes import running, spawn, stop
from tests.web.test_payload import _board
from tests.web.writes import ORDERS, VIEWS, count, join, now_ms, order, store_catalog
from web.controls import decode_message, goal_progress
from web.scopes import parse_time_ms

LEADER = "cp-2023-hcm-01"
CHASER = "cp-2023-hcm-03"
MESSAGE = "Phiên đấu giá bắt đầu lúc 15:00"
GOAL_VND = 1_000_000
INTO_FAIR_MS = 220 * 60_000


def test_goal_progress_projects_the_finish_from_the_rate_so_far() -> None:
    start = 1_000_000
    # 250 000 ₫ in 1 h: 1 000 000 ₫ after 4 h.
    goal = goal_progress(1_000_000, gmv_vnd=250_000, start_ms=start, now_ms=start + 3_600_000)
    assert goal == {"goal_vnd": 1_000_000, "gmv_vnd": 250_000, "ratio": 0.25,
                    "projected_finish_ms": start + 4 * 3_600_000}


def test_goal_progress_without_a_rate_or_past_the_goal_projects_nothing() -> None:
    assert goal_progress(0, gmv_vnd=5, start_ms=0, now_ms=10) is None
    for gmv, start in ((0, 0), (5, None), (10, 0), (12, 0)):
        goal = goal_progress(10, gmv_vnd=gmv, start_ms=start, now_ms=1000)
        assert goal is not None and goal["projected_finish_ms"] is None
    early = goal_progress(10, gmv_vnd=5, start_ms=2000, now_ms=1000)
    assert early is not None and early["projected_finish_ms"] is None


def test_a_stored_message_that_is_not_one_shows_none() -> None:
    assert decode_message('{"text": "Hi", "until_ms": 5}') == {"text": "Hi", "until_ms": 5}
    assert decode_message('{"text": "Hi"}') == {"text": "Hi", "until_ms": None}
    for raw in (None, "not json", "[]", '{"text": 3}'):
        assert decode_message(raw) is None


def test_a_hidden_session_leaves_every_leaderboard_and_stays_in_the_totals() -> None:
    shown, hidden = _board(), _board(hidden=frozenset({"b"}))
    assert [s["session_id"] for s in hidden["top_sessions_gmv"]] == ["a"]
    assert "b" not in {s["session_id"] for s in hidden["top_sessions_viewers"]}
    # Session b's 1 unit and 700 ₫ of product p1 and its province leave the boards.
    assert [(p["units"], p["gmv_vnd"]) for p in hidden["top_products"]] == [(3, 300)]
    assert [p["province"] for p in hidden["top_provinces"]] == ["Thái Nguyên"]
    for key in ("totals", "windows", "series", "schedule", "campaign"):
        assert hidden[key] == shown[key], key


def _api_board(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/board",
                                timeout=10) as response:
        board: dict[str, Any] = json.loads(response.read())
    return board


def _shows_controls(board: dict[str, Any]) -> bool:
    return ((board.get("message") or {}).get("text") == MESSAGE
            and board.get("hidden_sessions") == [LEADER]
            and board.get("goal") is not None)


async def _until(port: int, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    deadline = time.monotonic() + seconds(30)
    while True:
        board = await asyncio.to_thread(_api_board, port)
        if done(board):
            return board
        assert time.monotonic() < deadline, f"{what}; last board: {json.dumps(board)[:2000]}"
        await asyncio.sleep(0.1)


async def _until_contact(settings: Settings, screen: str, after_ms: int) -> None:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    deadline = time.monotonic() + seconds(30)
    try:
        while True:
            value = await redis.hget(Keys(settings.key_prefix).screens_seen(), screen)
            if value is not None and int(value) >= after_ms:
                return
            assert time.monotonic() < deadline, f"no contact of {screen} since {after_ms}"
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()


def _staff(settings: Settings, *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=settings_env(settings))
    assert result.exit_code == 0, result.output
    return result


def _check_controls(board: dict[str, Any], shown: Catalog) -> None:
    assert board["message"]["text"] == MESSAGE and board["message"]["until_ms"] > now_ms()
    assert board["hidden_sessions"] == [LEADER]
    # Off every leaderboard, still counted.
    assert [s["session_id"] for s in board["top_sessions_gmv"]] == [CHASER]
    assert LEADER not in {s["session_id"] for s in board["top_sessions_viewers"]}
    assert board["totals"]["gmv_vnd"] == 400_000 and board["totals"]["orders"] == 2
    goal = board["goal"]
    assert goal["goal_vnd"] == GOAL_VND and goal["gmv_vnd"] == 400_000
    assert goal["ratio"] == pytest.approx(0.4)
    start = parse_time_ms(shown.fairs[0].start)
    assert start is not None
    # 40 % of the goal in the time since the start: the rest takes 1.5 times that again.
    elapsed = board["as_of"] - start
    assert goal["projected_finish_ms"] == pytest.approx(start + elapsed * 2.5, abs=2)


@pytest.mark.integration
@pytest.mark.browser
async def test_two_web_processes_show_the_controls_and_keep_them_over_a_restart(
    make_settings: Callable[..., Settings], tmp_path: Path, browser: Browser,
) -> None:
    first = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2,
                          fair_goal_vnd=GOAL_VND, screens="stage-left,stage-right")
    second = first.model_copy(update={"web_port": pick_free_ports(1)[0]})
    shown = live_fair(load_catalog(SAMPLE_CATALOG), SHOWN_FAIR, now_ms=now_ms(),
                      into_ms=INTO_FAIR_MS)
    redis = Redis.from_url(first.redis_url, decode_responses=True)
    await store_catalog(first, redis, shown)
    await count(first, redis, VIEWS, [join("v1", LEADER, "u1"), join("v2", CHASER, "u2")])
    await count(first, redis, ORDERS, [order("o1", LEADER, 300_000),
                                       order("o2", CHASER, 100_000)])
    await redis.aclose()

    with running(second, "web", tmp_path):
        proc, _ = spawn(first, "web", tmp_path)
        try:
            before = await asyncio.to_thread(_api_board, first.web_port)
            assert before["message"] is None and before["hidden_sessions"] == []
            assert before["top_sessions_gmv"][0]["session_id"] == LEADER
            told = _staff(first, "screens", "message", MESSAGE, "--for", "10m")
            assert "up for 600 s; 2 web process(es) told" in told.output
            assert "2 web process(es)" in _staff(first, "board", "hide", LEADER).output
            for settings in (first, second):
                board = await _until(settings.web_port, _shows_controls,
                                     f"web on {settings.web_port} never showed the controls")
                _check_controls(board, shown)
            stop(proc)
            proc, _ = spawn(first, "web", tmp_path)
            _check_controls(await _until(first.web_port, _shows_controls,
                                         "the restarted web lost the controls"), shown)

            page = await browser.new_page(viewport=BOARD_VIEWPORT)  # type: ignore[arg-type]
            page.set_default_timeout(seconds(15) * 1000)
            opened = now_ms()
            await page.goto(f"http://127.0.0.1:{second.web_port}/board?screen=stage-left")
            await page.wait_for_selector("#staff-message:not([hidden])")
            # The page named its socket: the screen's contact is on record.
            await _until_contact(first, "stage-left", opened)
            assert await page.text_content("#staff-message") == MESSAGE
            goal_text = await page.text_content("#goal .controls__text") or ""
            assert goal_text.startswith("đạt 40 % mục tiêu · dự kiến về đích ")
            await page.wait_for_selector("#list-sessions-gmv .row[data-key]")
            keys = await page.eval_on_selector_all("#list-sessions-gmv .row[data-key]",
                                                   "rows => rows.map(r => r.dataset.key)")
            assert keys == [CHASER]

            _staff(first, "screens", "message", "--clear")
            _staff(first, "board", "unhide", LEADER)
            await page.wait_for_selector("#staff-message", state="hidden")
            await page.wait_for_selector(f"#list-sessions-gmv .row[data-key='{LEADER}']")
            await page.close()
            for settings in (first, second):
                board = await _until(settings.web_port,
                                     lambda b: b["message"] is None
                                     and b["hidden_sessions"] == [],
                                     "the controls were never taken down")
                assert board["top_sessions_gmv"][0]["session_id"] == LEADER
        finally:
            stop(proc)
