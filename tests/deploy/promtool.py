"""promtool for the tests, from Debian's ``prometheus`` package, installed when missing.

A machine without it and without root fails with the command to run; nothing is skipped.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.stack import prometheus
from devtools.stack.ports import StackError

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests"


def _log(message: str) -> None:
    print(f"[promtool] {message}", file=sys.stderr, flush=True)


@functools.cache
def _tools() -> prometheus.Tools:
    return prometheus.ensure_tools(_log)


def tools() -> prometheus.Tools:
    """The packaged prometheus and promtool binaries; fail the test if they cannot be had."""
    try:
        return _tools()
    except StackError as exc:
        pytest.fail(str(exc))


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
    """Run ``promtool ARGS`` and return its exit code and its combined output."""
    done = subprocess.run(
        [tools().promtool, *args], input=stdin, capture_output=True, timeout=120, check=False
    )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")
