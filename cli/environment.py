"""What every command does first: read its settings and set up logging."""

from __future__ import annotations

import logging
import sys

import click

from common.settings import Settings, SettingsError, load_settings


def command_settings() -> Settings:
    """The process settings, or a usage error that names the bad ``OCOP_*`` variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def configure_logging() -> None:
    """Log lines with time, level and logger name to stderr."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
