"""The migrated schema equals the models, CHECK constraints included (``compare_metadata``
does not compare them), and the audit triggers exist, on both databases."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Column, Connection, Engine, Integer, MetaData, Table, inspect, text

from service.db.metadata import metadata
from service.db.migrate import current_revision, head_revision


def test_no_drift_between_models_and_migrations(engine: Engine, db_url: str) -> None:
    assert current_revision(engine) == head_revision(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_every_model_table_exists(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_append_only_triggers_installed(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
            expected = {f"{t}_no_{a}" for t in ("audit_entries", "audit_checkpoints", "audit_nodes")
                        for a in ("update", "delete")}
        else:
            names = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
            expected = {f"{t}_{k}" for t in ("audit_entries", "audit_checkpoints", "audit_nodes")
                        for k in ("append_only", "no_truncate")}
    assert expected <= names


def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def check_constraint_drift(conn: Connection, meta: MetaData) -> list[str]:
    """What ``compare_metadata`` does not see: each table's named CHECK constraints, in the
    models and in the database, by name (and on SQLite by their text too)."""
    inspector = inspect(conn)
    drift: list[str] = []
    for table in meta.sorted_tables:
        modelled = {c.name: _sql(str(c.sqltext)) for c in table.constraints
                    if isinstance(c, CheckConstraint) and c.name}
        stored = {c["name"]: _sql(c["sqltext"]) for c in inspector.get_check_constraints(table.name) if c["name"]}
        for name in sorted(modelled.keys() ^ stored.keys()):
            drift.append(f"{table.name}.{name}: {'missing from the database' if name in modelled else 'not modelled'}")
        if conn.dialect.name == "sqlite":
            drift += [f"{table.name}.{name}: differs" for name in sorted(modelled.keys() & stored.keys())
                      if modelled[name] != stored[name]]
    return drift


def _sql(expression: str) -> str:
    return re.sub(r"\s+", "", expression).replace('"', "").lower().strip("()")


def test_check_constraints_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        assert check_constraint_drift(conn, metadata) == []


def test_the_check_constraint_comparison_sees_a_dropped_constraint(engine: Engine) -> None:
    scratch = MetaData()
    Table("scratch_checked", scratch, Column("n", Integer), CheckConstraint("n >= 0", name="ck_scratch_n"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch_checked (n INTEGER)")  # the migration "forgot" the CHECK
        assert check_constraint_drift(conn, scratch) == ["scratch_checked.ck_scratch_n: missing from the database"]
        conn.exec_driver_sql("DROP TABLE scratch_checked")
