"""The host page's credentials come from the URL fragment only (web/static/host.js).

``readCredentials`` runs in Node with a stand-in ``location``, ``history`` and
``sessionStorage``; the whole page in Chromium is tests/web/test_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from typing import Any

import pytest

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js (apt-get install nodejs)")

_HARNESS = """
const [hash, search, saved] = JSON.parse(process.argv[1]);
const location = { hash, search, pathname: "/host" };
const urls = [];
const history = { replaceState: (state, title, url) => urls.push(url) };
const store = new Map(saved ? [["ocop-live.host", saved]] : []);
const sessionStorage = {
  getItem: (key) => (store.has(key) ? store.get(key) : null),
  setItem: (key, value) => store.set(key, value),
  removeItem: (key) => store.delete(key),
};
const STORAGE_KEY = "ocop-live.host";
%s
const credentials = readCredentials();
console.log(JSON.stringify({ credentials, urls, stored: store.get(STORAGE_KEY) || null }));
"""


def _read_credentials(hash_: str, search: str, saved: str | None = None) -> dict[str, Any]:
    source = resources.files("web").joinpath("static", "host.js").read_text(encoding="utf-8")
    match = re.search(r"^function readCredentials\(\) \{\n.*?^\}\n", source, re.S | re.M)
    assert match, "host.js has no readCredentials function any more"
    assert NODE is not None
    done = subprocess.run([NODE, "-e", _HARNESS % match.group(0),
                           json.dumps([hash_, search, saved])],
                          capture_output=True, text=True, check=True, timeout=30)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_fragment_gives_the_credentials_and_is_wiped() -> None:
    out = _read_credentials("#session=cp-1&token=T0K", "?lang=en")
    assert out["credentials"] == {"sessionId": "cp-1", "token": "T0K"}
    assert out["urls"] == ["/host?lang=en"]
    assert json.loads(out["stored"]) == {"sessionId": "cp-1", "token": "T0K"}


def test_a_token_in_the_query_string_is_ignored_and_wiped() -> None:
    out = _read_credentials("", "?session=cp-1&token=T0K&lang=en")
    assert out["credentials"] == {"sessionId": "", "token": ""}
    assert out["urls"] == ["/host?lang=en"]
    assert out["stored"] is None


def test_a_query_token_does_not_complete_a_fragment_without_one() -> None:
    out = _read_credentials("#session=cp-1", "?token=T0K")
    assert out["credentials"] == {"sessionId": "", "token": ""}
    assert out["urls"] == ["/host"]


def test_a_reload_takes_them_from_this_tabs_storage() -> None:
    saved = json.dumps({"sessionId": "cp-1", "token": "T0K"})
    out = _read_credentials("", "", saved)
    assert out["credentials"] == {"sessionId": "cp-1", "token": "T0K"}
    assert out["urls"] == []
