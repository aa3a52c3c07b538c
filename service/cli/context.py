"""What every command needs: settings from the environment and the services built on them.

Command modules (``service/cli/main.py``, ``service/admin/cli.py``) import these
helpers from here, so that the main command depends on its command groups and
never the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from service.cli.preflight import OperatorError, reachable_engine
from service.config import ConfigError, Settings
from service.crypto.keys import KeyError_

if TYPE_CHECKING:
    from service.runtime import Services


def cli_settings() -> Settings:
    """Settings from ``CREDITGATE_*``; a bad variable is an OperatorError (exit 2) naming it."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise OperatorError(str(exc)) from None


def cli_services(settings: Settings) -> Services:
    """Services on a database that answers, with logging configured; not started."""
    from service.observability.logging import configure_logging
    from service.runtime import build_services

    configure_logging(settings.log_level, file=settings.log_file)
    reachable_engine(settings).dispose()
    try:
        return build_services(settings)
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from None
