"""``python -m cli`` is the ``ocop-live`` command."""

from cli.main import main

main()
