"""Checks made before the service starts or a command touches the database.

Each failure is one line for the operator that names what is wrong and what to
do, and exits with status 2 (a usage or configuration error), instead of a
traceback or, worse, a server that starts and then fails every request.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from service.config import Settings

CONFIG_EXIT = 2


class OperatorError(click.ClickException):
    """A configuration or environment problem the operator must fix; exit status 2."""

    exit_code = CONFIG_EXIT


def _where(settings: Settings) -> str:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return f"the SQLite file {url.database}"
    return f"the PostgreSQL server at {url.host or 'localhost'}:{url.port or 5432}, database {url.database!r}"


def reachable_engine(settings: Settings) -> Engine:
    """An engine on the configured database after one successful connection, or OperatorError."""
    from service.db.engine import make_engine

    try:
        engine = make_engine(settings.database_url, **_connect_timeout(settings))
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        reason = _first_line(exc)
        raise OperatorError(
            f"CREDITGATE_DATABASE_URL: cannot connect to {_where(settings)}: {reason}"
        ) from None
    return engine


def _connect_timeout(settings: Settings) -> dict[str, Any]:
    # A server that drops packets would otherwise hang the command for minutes.
    if settings.is_sqlite:
        return {}
    return {"connect_args": {"connect_timeout": 5}}


def _first_line(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def ensure_schema_current(settings: Settings, engine: Engine, *, embedded_default: bool) -> str | None:
    """Make sure the database is at the newest migration before serving.

    On the embedded default (SQLite in the data directory, no
    ``CREDITGATE_DATABASE_URL``) an outdated or new database is migrated here and
    the message saying so is returned. Anywhere else the operator decides when
    to migrate, so an outdated schema is an OperatorError naming the command.
    """
    from service.db.migrate import current_revision, head_revision, upgrade

    current = current_revision(engine)
    head = head_revision(settings.database_url)
    if current == head:
        return None
    if embedded_default:
        upgrade(settings.database_url, settings=settings)
        return f"migrated the embedded database from revision {current or 'none'} to {head}"
    raise OperatorError(
        f"the database is at revision {current or 'none (never migrated)'} but this version needs {head}; "
        "run: creditgate db upgrade"
    )


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on.

    granian binds with ``SO_REUSEPORT``, so a second server on the same port
    would start silently and split requests with the first. A socket without
    that option cannot bind while any listener holds the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers only
        probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise OperatorError(
                f"port {port} on {host} is already in use (is creditgate already running?); "
                "choose another with --port, and set CREDITGATE_ISSUER to match "
                f"(http://{host}:<port>)"
            ) from None
        raise OperatorError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    finally:
        probe.close()
