"""`ocop-live report`'s bad input: each refusal names what was wrong and what to do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from redis.asyncio import Redis

from cli.main import main
from common.catalog import SAMPLE_CATALOG, load_catalog
from common.settings import Settings
from devtools.stack.ports import pick_free_ports
from tests.conftest import settings_env
from tests.web.writes import store_catalog


@pytest.fixture
def fake_chromium(tmp_path: Path) -> Path:
    """An executable that is never reached: these commands stop before printing."""
    path = tmp_path / "chromium"
    path.write_text("#!/bin/sh\nexit 1\n")
    path.chmod(0o755)
    return path


def test_fair_and_campaign_together_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--fair", "cg-2023-11-25", "--campaign",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--fair and --campaign exclude each other" in result.output


def test_out_is_required() -> None:
    result = CliRunner().invoke(main, ["report"])
    assert result.exit_code == 2
    assert "--out" in result.output


def test_a_missing_chromium_is_named_before_anything_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "no-chromium"
    (port,) = pick_free_ports(1)
    result = CliRunner().invoke(main, ["report", "--out", str(tmp_path / "out"),
                                       "--chromium", str(missing)],
                                env={"OCOP_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    assert result.exit_code == 1
    assert f"Chromium is missing at {missing}" in result.output
    assert "sudo apt-get install -y chromium" in result.output
    assert not (tmp_path / "out").exists()


def test_a_redis_that_does_not_answer_is_named(tmp_path: Path, fake_chromium: Path) -> None:
    (port,) = pick_free_ports(1)
    result = CliRunner().invoke(main, ["report", "--out", str(tmp_path), "--chromium",
                                       str(fake_chromium), "--quiet"],
                                env={"OCOP_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    assert result.exit_code == 1
    assert "cannot read the store from Redis (OCOP_REDIS_URL)" in result.output


@pytest.mark.integration
async def test_an_unknown_fair_is_named_with_fairs_the_store_holds(
    make_settings: Callable[..., Settings], tmp_path: Path, fake_chromium: Path,
) -> None:
    settings = make_settings()
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    await store_catalog(settings, redis, load_catalog(SAMPLE_CATALOG))
    await redis.aclose()
    env = {k: v for k, v in settings_env(settings).items() if k.startswith("OCOP_")}
    result: Result = await asyncio.to_thread(
        CliRunner().invoke, main, ["report", "--fair", "cg-2099-01-01", "--out",
                                   str(tmp_path), "--chromium", str(fake_chromium)], env=env)
    assert result.exit_code == 2
    assert "Invalid value for --fair: unknown fair 'cg-2099-01-01'" in result.output
    # The latest fairs first: the one a person most likely meant.
    assert "the store holds: cg-2023-11-25, ag-2023-10-28," in result.output
    assert "(16 in all)" in result.output
