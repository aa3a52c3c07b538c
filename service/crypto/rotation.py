"""Online KEK rotation: rewrap every data key (subjects' and the shared text keys)
under the active KEK, batch by batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update

from service.crypto.envelope import open_envelope, seal_envelope, wrap_associated_data
from service.crypto.keys import KekProvider
from service.crypto.models import SubjectKey, TextKey
from service.db.engine import IMMEDIATE
from service.db.types import utcnow

# Every table of wrapped data keys; the table name is part of each wrapped key's associated data.
_KEY_TABLES: tuple[type[SubjectKey] | type[TextKey], ...] = (SubjectKey, TextKey)


@dataclass(frozen=True)
class RotationResult:
    """What a rewrap pass did."""

    rewrapped: int
    remaining: int
    active_kek: str


def key_usage(engine: Engine) -> dict[str, int]:
    """How many data keys each KEK version wraps."""
    usage: dict[str, int] = {}
    with engine.connect() as conn:
        for model in _KEY_TABLES:
            rows = conn.execute(
                select(model.kek_id, func.count()).group_by(model.kek_id)  # type: ignore[call-overload]
            ).all()
            for kek_id, count in rows:
                usage[kek_id] = usage.get(kek_id, 0) + count
    return usage


def pending_rewrap(engine: Engine, active_kek: str) -> int:
    """Data keys not yet wrapped by ``active_kek``."""
    pending = 0
    with engine.connect() as conn:
        for model in _KEY_TABLES:
            pending += int(conn.execute(
                select(func.count()).select_from(model).where(model.kek_id != active_kek)  # type: ignore[arg-type]
            ).scalar_one())
    return pending


def rewrap_all(
    engine: Engine,
    keks: KekProvider,
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> RotationResult:
    """Rewrap every data key not under the active KEK.

    Each batch is its own short transaction so queries keep running; the update
    is conditional on the old KEK id, so a key rewrapped by a concurrent run is
    left alone rather than overwritten.
    """
    active_id, active = keks.active()
    done = 0
    for model in _KEY_TABLES:
        table = model.__tablename__
        while True:
            with engine.connect() as conn:
                # A write transaction from the start: on SQLite a batch that began as a
                # reader could not become a writer once the service had committed since.
                conn.execution_options(**IMMEDIATE)
                conn.begin()
                rows = conn.execute(
                    select(model.id, model.kek_id, model.wrapped_key)  # type: ignore[call-overload]
                    .where(model.kek_id != active_id)
                    .order_by(model.id)
                    .limit(batch_size)
                ).all()
                for dek_id, old_kek_id, wrapped in rows:
                    dek = open_envelope(keks.get(old_kek_id), wrapped, wrap_associated_data(dek_id, old_kek_id, table))
                    new = seal_envelope(active, active_id, dek, wrap_associated_data(dek_id, active_id, table))
                    conn.execute(
                        update(model)
                        .where(model.id == dek_id, model.kek_id == old_kek_id)
                        .values(kek_id=active_id, wrapped_key=new, rewrapped_at=utcnow())
                    )
                conn.commit()
            if not rows:
                break
            done += len(rows)
            if progress:
                progress(len(rows))
    return RotationResult(done, pending_rewrap(engine, active_id), active_id)
