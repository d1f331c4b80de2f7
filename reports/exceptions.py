"""What can stop a report: a fair the store does not hold, or no way to print it."""

from __future__ import annotations


class ReportError(Exception):
    """A report that cannot be written; the message says why and what to do."""


class UnknownFairError(ReportError, ValueError):
    """``--fair`` names a fair the store does not hold (``known`` lists a few it does)."""

    def __init__(self, fair_id: str, known: list[str]) -> None:
        shown = ", ".join(known[:5]) or "none"
        more = f", … ({len(known)} in all)" if len(known) > 5 else ""
        super().__init__(f"unknown fair {fair_id!r}; the store holds: {shown}{more}")
        self.fair_id = fair_id
        self.known = known


class ChromiumMissing(ReportError, FileNotFoundError):
    """The Chromium binary that prints the PDF is not there."""


class PrintFailed(ReportError, RuntimeError):
    """Chromium ran but printed no PDF."""
