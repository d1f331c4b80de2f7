"""``python -m ocop_live`` is the ``ocop-live`` command."""

from ocop_live.cli import main

main()
