"""Running Alembic from the service (``creditgate db upgrade``) and from tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

import migrations

if TYPE_CHECKING:
    from service.config import Settings
    from service.crypto.keys import Keyring
    from service.crypto.vault import FieldVault


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at this package's migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.attributes["url"] = url
    return cfg


class KeyedDataSteps:
    """The parts of a schema upgrade that need the keys: converting stored values to
    their encrypted form (revision 0008). Built from the service's settings; the
    migrations call it only when there are rows to convert."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _keys(self) -> tuple[Keyring, FieldVault]:
        from service.crypto.keys import LiveKeks, load_keyring
        from service.crypto.vault import FieldVault

        s = self._settings
        keyring = load_keyring(s.key_file, s.master_key, s.previous_master_keys)
        return keyring, FieldVault(LiveKeks(keyring, s.key_file, s.master_key, s.previous_master_keys))

    def seal_birth_dates(self, conn: Connection) -> int:
        """Store each subject's birth date apart from the ID number (audited per subject)."""
        from service.audit_log.writer import AuditWriter
        from service.gate.backfill import seal_birth_dates

        keyring, vault = self._keys()
        writer = AuditWriter(conn.engine, keyring.signing_key("audit"))
        return seal_birth_dates(conn, vault, writer)

    def seal_consent_reasons(self, conn: Connection) -> int:
        """Encrypt the plaintext reasons of stored consent requests."""
        from service.consent.backfill import seal_reasons

        _, vault = self._keys()
        return seal_reasons(conn, vault)


def upgrade(url: str, revision: str = "head", *, settings: Settings | None = None) -> None:
    """Migrate the database at ``url`` to ``revision``. With ``settings``, steps that
    convert stored values to their encrypted form can open the keys they need."""
    cfg = alembic_config(url)
    if settings is not None:
        cfg.attributes["data_steps"] = KeyedDataSteps(settings)
    command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(url: str) -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()
