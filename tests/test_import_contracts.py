"""The package layers of pyproject.toml hold, and a broken one fails ``make lint``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "store", "counting", "streams", "consumers", "web", "ingest", "reports",
            "cli", "devtools", "bench")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    # lint-imports puts its working folder first on the import path.
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml, free to break."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "results"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("web/ring.py", "from streams.core import delta", "web is not allowed to import streams"),
    ("web/payload.py", "from counting import delta", "web is not allowed to import counting"),
    ("counting/delta.py", "import redis", "counting is not allowed to import redis"),
    ("common/clock.py", "from store import keys", "common is not allowed to import store"),
    ("streams/pipeline.py", "from devtools import sample",
     "streams is not allowed to import devtools"),
])
def test_breaking_a_contract_fails_the_lint(tree: Path, module: str, line: str,
                                            broken: str) -> None:
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # noqa\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert broken in result.stdout, result.stdout
