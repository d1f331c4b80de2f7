"""``ocop-live connect tiktok-live``'s offline answers: the missing extra, a bad --room."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from cli.main import main

COMMAND = ["connect", "tiktok-live", "--room", "@shop.ocop", "--session", "cp-01"]


def test_without_the_extra_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import TikTokLive` fail as on an install without it.
    monkeypatch.setitem(sys.modules, "TikTokLive", None)
    result = CliRunner().invoke(main, COMMAND)
    assert result.exit_code == 1, result.output
    assert "pip install 'ocop-live[tiktok]'" in result.output
    assert "TikTokLive" in result.output


@pytest.mark.parametrize("room", ["shop.ocop", "@"])
def test_a_room_that_is_no_handle_is_refused_by_name(room: str) -> None:
    result = CliRunner().invoke(main, ["connect", "tiktok-live", "--room", room,
                                       "--session", "cp-01"])
    assert result.exit_code == 2, result.output
    assert repr(room) in result.output and "--room" in result.output


def test_the_help_says_it_is_unofficial_and_names_the_sign_key() -> None:
    result = CliRunner().invoke(main, ["connect", "tiktok-live", "--help"])
    assert result.exit_code == 0, result.output
    assert "Unofficial" in result.output
    assert "OCOP_TIKTOK_SIGN_API_KEY" in result.output


def test_the_product_loads_without_the_library() -> None:
    # A fresh interpreter: the modules this one already imported would hide a top-level
    # import of TikTokLive.
    script = ("import sys; sys.modules['TikTokLive'] = None; "
              "import cli.main, ingest.tiktok, ingest.tiktok_room; "
              "cli.main.main(['connect', '--help'])")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "tiktok-live" in result.stdout
