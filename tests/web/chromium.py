"""Debian's Chromium for the browser tests: installed on first use where apt can."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.screenshots import CHROMIUM


def ensure_chromium() -> None:
    """Install Chromium with apt when it is missing, or fail saying how to."""
    if Path(CHROMIUM).exists():
        return
    command = ["apt-get", "install", "-y", "chromium"]
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing; install it with: sudo {' '.join(command)}")
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail(f"{CHROMIUM} is missing and there is no apt-get to install it")
    subprocess.run([apt, "update"], check=True)
    subprocess.run([apt, *command[1:]], check=True, env={**os.environ,
                                                          "DEBIAN_FRONTEND": "noninteractive"})
