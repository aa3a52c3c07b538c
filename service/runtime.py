"""The long-lived objects one process needs, built once from settings."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread
from sqlalchemy import Engine
from sqlmodel import Session

from service.audit_log.store import public_keys
from service.audit_log.witness import DirectorySink, WitnessPublisher
from service.audit_log.writer import AuditWriter
from service.config import Settings
from service.crypto.blind_index import BlindIndex
from service.crypto.keys import Keyring, LiveKeks, load_keyring
from service.crypto.vault import FieldVault
from service.db.checkpointer import WalCheckpointer
from service.db.engine import IMMEDIATE, make_engine
from service.db.raw import RawConnection, ThreadReaders
from service.gate.access import AccessGate
from service.identity.tokens import TokenService

T = TypeVar("T")


@dataclass
class Services:
    """Engine, keys, vault, audit writer, gate and access-token service for one process."""

    settings: Settings
    engine: Engine
    keyring: Keyring
    vault: FieldVault
    blind_index: BlindIndex
    writer: AuditWriter
    gate: AccessGate
    tokens: TokenService
    readers: ThreadReaders
    checkpointer: WalCheckpointer
    witness: WitnessPublisher

    def reads(self) -> AbstractContextManager[RawConnection]:
        """This thread's autocommitting connection for short reads (see ThreadReaders)."""
        return self.readers()

    def session(self) -> Session:
        """A new ORM session; callers use it as a context manager."""
        return Session(self.engine, expire_on_commit=False)

    def write_session(self) -> Session:
        """A session for a read-modify-write transaction.

        On SQLite it takes the write lock at BEGIN: a transaction that starts as a
        reader and writes later can fail with SQLITE_BUSY when another writer got
        there first, and it could deadlock against an audit append it is waiting on.
        """
        return Session(self.engine.execution_options(**IMMEDIATE), expire_on_commit=False)

    async def run_reads(self, fn: Callable[..., T], *args: object) -> T:
        """Run a short blocking read from async code.

        By default in place, on the event loop: the governed query's reads take
        microseconds on SQLite and a loopback round trip on PostgreSQL, less than
        the hop to a worker thread and back, which also makes the thread and the
        loop contend for the GIL (bench/bench_queries.py measured twice the
        throughput in place, on both databases). With a database far away
        (``CREDITGATE_INLINE_READS=0``) each round trip would stall the loop, so
        the reads go to the worker pool instead.
        """
        if self.settings.inline_reads:
            return fn(*args)
        return await anyio.to_thread.run_sync(fn, *args)

    def audit_public_keys(self) -> dict[str, object]:
        """The checkpoint verification keys by key id."""
        return dict(public_keys(self.keyring.signing_key("audit").public_key()))

    def start(self) -> None:
        """Start background work (the audit writer, WAL checkpoints, witness copies)."""
        self.writer.start()
        self.checkpointer.start()
        self.witness.start()

    def close(self) -> None:
        """Flush the audit log and release the database."""
        self.writer.close()
        self.witness.close()  # after the writer's last checkpoint
        self.checkpointer.stop()
        self.readers.close()
        self.engine.dispose()


def build_services(settings: Settings, engine: Engine | None = None) -> Services:
    """Wire the process's objects together from ``settings``."""
    engine = engine or make_engine(settings.database_url, background_checkpoints=True)
    keyring = load_keyring(settings.key_file, settings.master_key, settings.previous_master_keys)
    vault = FieldVault(LiveKeks(keyring, settings.key_file, settings.master_key, settings.previous_master_keys))
    writer = AuditWriter(
        engine,
        keyring.signing_key("audit"),
        batch_max=settings.audit_batch_max,
        checkpoint_every=settings.checkpoint_every_entries,
        checkpoint_seconds=settings.checkpoint_every_seconds,
    )
    return Services(
        settings=settings,
        engine=engine,
        keyring=keyring,
        vault=vault,
        blind_index=BlindIndex(keyring.index_secret),
        writer=writer,
        gate=AccessGate(vault, writer),
        tokens=TokenService(settings, keyring),
        readers=ThreadReaders(engine),
        checkpointer=WalCheckpointer(engine),
        witness=WitnessPublisher(engine, DirectorySink(settings.witness_directory)),
    )
