"""The numbers a report page holds, read back from its ``data-field``/``data-value`` cells."""

from __future__ import annotations

from html.parser import HTMLParser

Cells = dict[tuple[str | None, str], int]


class _Cells(HTMLParser):
    """Every element with ``data-field``, under its table row's first ``data-*`` value
    (None outside a table: the headline's tiles)."""

    def __init__(self) -> None:
        super().__init__()
        self.row: str | None = None
        self.values: Cells = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr":
            self.row = next((v for k, v in found.items() if k.startswith("data-")), None)
        if "data-field" in found and found.get("data-value") is not None:
            self.values[self.row if tag == "td" else None, str(found["data-field"])] = int(
                str(found["data-value"]))


def cells(html: str) -> Cells:
    """(row key, field) → exact value of every figure cell of ``html``."""
    parser = _Cells()
    parser.feed(html)
    return parser.values
