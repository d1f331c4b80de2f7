"""The report printed to PDF by headless Chromium (``--print-to-pdf``), on A4.

The page's own ``@page`` rule sets A4 and the margins, which Chromium's printing follows.
The binary is Debian's Chromium, the one the browser tests and the screenshots drive.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path

from reports.exceptions import ChromiumMissing, PrintFailed

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "sudo apt-get install -y chromium"
# A report prints in a second or two; a Chromium that hangs is stopped after this.
PRINT_TIMEOUT_S = 120.0
# Nothing of its own on the network: the page needs none, and printing must not wait.
_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-pdf-header-footer")
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def find_chromium(path: Path = CHROMIUM) -> Path:
    """``path`` if it is an executable file, or an error naming it and the install command."""
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ChromiumMissing(f"Chromium is missing at {path} (--chromium): the PDF is "
                              f"printed with it; install it with: {INSTALL}")
    return path


def page_count(pdf: bytes) -> int:
    """How many page objects a PDF holds (Chromium writes each one uncompressed)."""
    return len(_PAGE.findall(pdf))


async def print_pdf(html: Path, pdf: Path, *, chromium: Path = CHROMIUM,
                    timeout_s: float = PRINT_TIMEOUT_S) -> int:
    """Print ``html`` to ``pdf``; returns its page count."""
    binary = find_chromium(chromium)
    pdf.unlink(missing_ok=True)
    # A profile of its own: a Chromium the user has open keeps its profile locked.
    with tempfile.TemporaryDirectory(prefix="ocop-report-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            str(binary), *_ARGS, f"--user-data-dir={profile}", f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(timeout_s):
                _, stderr = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise PrintFailed(f"{binary} did not print {html} within {timeout_s:g} s") from None
    printed = pdf.read_bytes() if pdf.is_file() else b""
    if process.returncode != 0 or not printed.startswith(b"%PDF"):
        # Chromium's stderr is mostly noise (D-Bus, GPU); its last lines say what failed.
        tail = "\n".join(stderr.decode("utf-8", "replace").strip().splitlines()[-5:])
        raise PrintFailed(f"{binary} exited with {process.returncode} and printed no PDF "
                          f"of {html}:\n{tail}")
    return page_count(printed)
