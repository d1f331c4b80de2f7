"""Finding Chromium and counting a PDF's pages (printing itself is in test_browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.exceptions import ChromiumMissing
from reports.pdf import find_chromium, page_count


def test_a_missing_chromium_is_named_with_the_command_that_installs_it(tmp_path: Path) -> None:
    missing = tmp_path / "chromium"
    with pytest.raises(ChromiumMissing, match=rf"missing at {missing} .*apt-get install -y "
                                              "chromium"):
        find_chromium(missing)
    missing.write_text("not a program")
    with pytest.raises(ChromiumMissing):
        find_chromium(missing)
    missing.chmod(0o755)
    assert find_chromium(missing) == missing


def test_pages_are_the_page_objects_not_the_page_tree() -> None:
    pdf = (b"%PDF-1.4\n1 0 obj <</Type /Pages /Kids [2 0 R 3 0 R] /Count 2>>\n"
           b"2 0 obj <</Type /Page /MediaBox [0 0 594.96 841.92]>>\n"
           b"3 0 obj <</Type/Page/Parent 1 0 R>>\n")
    assert page_count(pdf) == 2
