"""Statements written with ``?`` placeholders, in each driver's own paramstyle.

The hot paths bypass SQLAlchemy and talk to the driver: sqlite3 takes ``?``,
psycopg ``%s``. This module imports nothing, so the light verification workers
can use it too.
"""

from __future__ import annotations


def for_driver(statement: str, paramstyle: str) -> str:
    """``statement`` (``?`` placeholders) for a driver of this DB-API ``paramstyle``."""
    return statement if paramstyle == "qmark" else statement.replace("?", "%s")
