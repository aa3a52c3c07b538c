"""Runtime settings, read once from ``CREDITGATE_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from service.http.client import parse_networks

_PREFIX = "CREDITGATE_"


class ConfigError(Exception):
    """A setting is present but unusable; the message names the variable, never its value."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(_PREFIX + name)
    return value if value not in (None, "") else default


def _int_env(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{_PREFIX}{name} must be an integer") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{_PREFIX}{name} must be between {minimum} and {maximum}")
    return value


def _networks_env(name: str) -> tuple[str, ...]:
    raw = _env(name, "") or ""
    try:
        return tuple(str(net) for net in parse_networks(v for v in raw.split(",") if v.strip()))
    except ValueError as exc:
        raise ConfigError(f"{_PREFIX}{name}: {exc}; give comma-separated IP addresses or CIDR networks") from None


def _listen_env(name: str, *, workers: int) -> tuple[str, int] | None:
    raw = _env(name)
    if raw is None:
        return None
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{_PREFIX}{name} must be host:port (port 1-65535)")
    if workers > 1:
        # Each worker process keeps its own metrics, and only one could bind the port.
        raise ConfigError(f"{_PREFIX}{name} needs {_PREFIX}WORKERS=1; scrape /metrics with an operator token instead")
    return host, int(port)


def check_public_url(name: str, value: str, *, allow_path: bool = True) -> str:
    """An absolute https URL, or http on a loopback host for local use, with no query or
    fragment (and no path unless ``allow_path``); raise ConfigError naming ``name`` otherwise."""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        raise ConfigError(f"{_PREFIX}{name} is not a URL") from None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise ConfigError(f"{_PREFIX}{name} must be an https URL (http only on a loopback host)")
    if parts.query or "#" in value or (not allow_path and parts.path not in ("", "/")):
        raise ConfigError(f"{_PREFIX}{name} must not carry a query or fragment{'' if allow_path else ' or a path'}")
    return value


_DATABASE_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def check_database_url(value: str) -> str:
    """A SQLAlchemy URL for SQLite or PostgreSQL (psycopg 3); ``postgresql://`` and
    ``postgres://`` are taken as psycopg. ConfigError names the variable and the
    accepted forms, and never repeats the value (it can hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if value.startswith(("postgresql://", "postgres://")):
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{_PREFIX}DATABASE_URL is not a database URL; use {_DATABASE_FORMS}") from None
    backend, _, driver = url.drivername.partition("+")
    if (backend, driver) not in {("sqlite", ""), ("sqlite", "pysqlite"), ("postgresql", "psycopg")}:
        raise ConfigError(
            f"{_PREFIX}DATABASE_URL: {url.drivername} is not supported; use {_DATABASE_FORMS}"
        )
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise ConfigError(f"{_PREFIX}DATABASE_URL: SQLite needs a file path; use {_DATABASE_FORMS}")
    if backend == "postgresql" and not url.database:
        raise ConfigError(f"{_PREFIX}DATABASE_URL: name the database; use {_DATABASE_FORMS}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment.

    The defaults give the embedded set-up: SQLite and a key file inside the
    data directory, the API on 127.0.0.1:8000.
    """

    data_dir: Path
    database_url: str
    key_file: Path
    master_key: str | None = field(repr=False, default=None)
    previous_master_keys: tuple[str, ...] = field(repr=False, default=())
    log_level: str = "INFO"
    # Log lines go to stderr, or appended to this file (created mode 0600).
    log_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_bytes: int = 64 * 1024
    handler_threads: int = 8
    # Serve the hottest routes in the fast lane (service.http.fastlane); off only to
    # compare it with the ordinary Litestar handlers.
    fast_lane: bool = True
    # Run the hot path's short reads on the event loop (see Services.run_reads).
    inline_reads: bool = True
    audit_batch_max: int = 512
    checkpoint_every_entries: int = 1000
    checkpoint_every_seconds: float = 1.0
    # OAuth 2.0: this service's issuer identifier (RFC 8414), the redirect URIs of the
    # people's web client ``creditgate-web`` (empty: ``<issuer>/app/callback``) and the
    # access-token lifetime in seconds (at most 15 minutes).
    issuer: str = "http://127.0.0.1:8000"
    web_redirect_uris: tuple[str, ...] = ()
    access_token_ttl: int = 600
    # True when CREDITGATE_DATABASE_URL is unset: the embedded SQLite file in the data
    # directory, which ``creditgate serve`` may migrate by itself.
    embedded_default: bool = False
    # Reverse proxies whose X-Forwarded-For names the client (service.http.client);
    # login throttling counts per client address.
    trusted_proxies: tuple[str, ...] = ()
    # A separate listener for /metrics without a token, as (host, port); None: /metrics
    # is served on the API port to operator tokens only.
    metrics_listen: tuple[str, int] | None = None
    # Pages of the public serious list one client address may fetch per minute.
    public_list_per_minute: int = 60
    # Where copies of the signed audit checkpoints are kept (service/audit_log/witness.py);
    # None: ``<data_dir>/witness``.
    witness_dir: Path | None = None

    @property
    def witness_directory(self) -> Path:
        """The directory of witness copies of the audit checkpoints."""
        return self.witness_dir if self.witness_dir is not None else self.data_dir / "witness"

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from the process environment."""
        data_dir = Path(_env("DATA_DIR", "./data") or "./data").expanduser().resolve()
        configured_url = _env("DATABASE_URL")
        database_url = check_database_url(configured_url or f"sqlite:///{data_dir / 'creditgate.db'}")
        key_file = Path(_env("KEY_FILE") or str(data_dir / "keys.json")).expanduser()
        previous = tuple(k for k in (_env("PREVIOUS_MASTER_KEYS", "") or "").split(",") if k)
        log_level = (_env("LOG_LEVEL", "INFO") or "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(f"{_PREFIX}LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            key_file=key_file,
            master_key=_env("MASTER_KEY"),
            previous_master_keys=previous,
            log_level=log_level,
            log_file=Path(log_file).expanduser() if (log_file := _env("LOG_FILE")) else None,
            host=_env("HOST", "127.0.0.1") or "127.0.0.1",
            port=_int_env("PORT", 8000, 1, 65535),
            workers=_int_env("WORKERS", 1, 1, 64),
            max_body_bytes=_int_env("MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
            handler_threads=_int_env("HANDLER_THREADS", 8, 1, 256),
            fast_lane=_int_env("FAST_LANE", 1, 0, 1) == 1,
            inline_reads=_int_env("INLINE_READS", 1, 0, 1) == 1,
            audit_batch_max=_int_env("AUDIT_BATCH_MAX", 512, 1, 10_000),
            checkpoint_every_entries=_int_env("CHECKPOINT_EVERY_ENTRIES", 1000, 1, 1000),
            issuer=check_public_url("ISSUER", (_env("ISSUER") or "http://127.0.0.1:8000").rstrip("/"),
                                    allow_path=False),
            web_redirect_uris=tuple(
                check_public_url("WEB_REDIRECT_URIS", uri.strip())
                for uri in (_env("WEB_REDIRECT_URIS", "") or "").split(",") if uri.strip()
            ),
            access_token_ttl=_int_env("ACCESS_TOKEN_TTL", 600, 60, 900),
            embedded_default=configured_url is None,
            trusted_proxies=_networks_env("TRUSTED_PROXIES"),
            metrics_listen=_listen_env("METRICS_LISTEN", workers=_int_env("WORKERS", 1, 1, 64)),
            public_list_per_minute=_int_env("PUBLIC_LIST_RATE", 60, 1, 100_000),
            witness_dir=Path(witness).expanduser() if (witness := _env("WITNESS_DIR")) else None,
        )
