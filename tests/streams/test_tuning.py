"""The one faust/aiokafka internal the worker sets is still where the worker looks.

faust has no setting for the broker's fetch wait, so ``streams/tuning.py`` sets aiokafka's
private ``Fetcher._fetch_max_wait_ms`` through faust's consumer thread. An upgrade that
moves any link of that chain must fail here, naming the link, rather than quietly bring
back 1-2 s of lag.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from tests.conftest import seconds
from tests.processes import running

pytestmark = pytest.mark.integration


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        health: dict[str, Any] = json.loads(answer.read())
    return health


def test_the_fetch_wait_reaches_aiokafkas_fetcher(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(fetch_max_wait_ms=70)
    with running(settings, "worker", tmp_path):
        deadline = time.monotonic() + seconds(60)
        health = _health(settings.worker_metrics_port)
        # The fetcher exists once the consumer started; the cap is set when the group
        # assigns partitions to this worker.
        while health["fetch_max_wait_ms"] != 70 and time.monotonic() < deadline:
            time.sleep(0.5)
            health = _health(settings.worker_metrics_port)
    assert health["fetch_wait_problem"] is None, (
        f"streams/tuning.py can no longer bound the fetch wait: {health['fetch_wait_problem']}"
    )
    assert health["fetch_max_wait_ms"] == 70
