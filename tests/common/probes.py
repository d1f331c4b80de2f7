"""Run a probe script in a fresh interpreter and read the JSON list it prints last.

The uvloop guards patch a library's class for the whole process, so the case that
must see the library as it ships runs in an interpreter of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys


def run_probe(source: str, *argv: str) -> list[str]:
    """What ``source`` (run with ``argv``) printed on its last line, as a list."""
    result = subprocess.run([sys.executable, "-c", source, *argv],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    seen: list[str] = json.loads(result.stdout.splitlines()[-1])
    return seen
