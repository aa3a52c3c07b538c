"""Foundation benchmark: durable audit appends, audit verification, field encryption.

Run: .venv/bin/python bench/bench_foundation.py [--pg-url URL] [--verify-entries 1000000]

Everything is measured in one run on this machine and printed as a table;
results also go to bench/results/foundation.json. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

from audit import key_id_for
from service.audit_log.bulk import bulk_append
from service.audit_log.parallel import verify_database_parallel
from service.audit_log.store import verify_database
from service.audit_log.writer import AuditEvent, AuditWriter
from service.cli.progress import progress_bar
from service.crypto.envelope import field_associated_data, open_envelope, seal_envelope
from service.crypto.keys import init_key_file, load_keyring
from service.db.engine import make_engine
from service.db.migrate import upgrade

console = Console()


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        actor_type="institution", actor_id=f"inst-{i % 50:04d}", action="query", decision="allow",
        reason="consent", subject=f"{i % 9973:032x}", purpose="loan_approval", consent_id=f"c-{i % 5000:08d}",
        request_id=f"{i:032x}",
        details={"categories": ["administrative_penalty", "judicial_enforcement"], "records": [i, i + 1],
                 "response_sha256": f"{i:064x}"},
    )


def bench_appends(engine: Engine, key: Any, threads: int, total: int) -> float:
    writer = AuditWriter(engine, key)
    writer.start()
    per = total // threads

    def work(t: int) -> None:
        for i in range(per):
            writer.append(_event(t * per + i))

    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - started
    writer.close()
    return per * threads / elapsed


def seed_entries(engine: Engine, key: Any, count: int) -> None:
    """Bulk-write ``count`` entries through the writer's own append path (encoding, hashing,
    stored subtree roots, one signed checkpoint per 1,000 entries), without group commit."""
    writer = AuditWriter(engine, key, checkpoint_every=1000, checkpoint_seconds=3600)
    with progress_bar("seeding audit entries", count) as advance:
        bulk_append(writer, (_event(i) for i in range(1, count + 1)), progress=advance)


def bench_verify(engine: Engine, key: Any, url: str, workers: int) -> tuple[float, int]:
    pub = key.public_key()
    keys = {key_id_for(pub): pub}
    started = time.perf_counter()
    parallel = workers > 1
    report = verify_database_parallel(url, keys, workers=workers) if parallel else verify_database(engine, keys)
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"verify failed: {report.problem} at {report.first_bad_seq}")
    return report.entries_checked / elapsed, report.entries_checked


def bench_fields(n: int) -> tuple[float, float]:
    key = os.urandom(32)
    values = [f"张三丰{i:06d}北京市朝阳区建国路".encode() for i in range(1000)]
    ads = [field_associated_data("subjects", "name_ct", f"{i:032x}", "dek") for i in range(1000)]
    started = time.perf_counter()
    blobs = [seal_envelope(key, "dek", values[i % 1000], ads[i % 1000]) for i in range(n)]
    enc = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for i, blob in enumerate(blobs):
        open_envelope(key, blob, ads[i % 1000])
    dec = n / (time.perf_counter() - started)
    return enc, dec


def fresh_db(kind: str, workdir: Path, pg_url: str | None, name: str) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / (name + '.db')}"
    else:
        assert pg_url
        admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = pg_url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg-url", help="PostgreSQL admin URL (postgresql+psycopg://user@host:port/postgres)")
    parser.add_argument("--verify-entries", type=int, default=1_000_000)
    parser.add_argument("--single-appends", type=int, default=1_000)
    parser.add_argument("--concurrent-appends", type=int, default=32_000)
    parser.add_argument("--field-ops", type=int, default=200_000)
    parser.add_argument("--verify-runs", type=int, default=3)
    args = parser.parse_args()

    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}}
    workdir = Path(tempfile.mkdtemp(prefix="creditgate-bench-"))
    keyfile = workdir / "keys.json"
    init_key_file(keyfile)
    key = load_keyring(keyfile).signing_key("audit")
    backends = ["sqlite"] + (["postgresql"] if args.pg_url else [])
    for kind in backends:
        runs = (("single", 1, args.single_appends), ("32 concurrent", 32, args.concurrent_appends))
        for label, threads, total in runs:
            url = fresh_db(kind, workdir, args.pg_url, f"bench_append_{threads}")
            engine = make_engine(url)
            console.print(f"[bold]{kind}[/]: {total} durable appends, {label} …")
            results[f"{kind}.appends_per_s.{threads}"] = bench_appends(engine, key, threads, total)
            engine.dispose()
    url = fresh_db("sqlite", workdir, None, "bench_verify")
    engine = make_engine(url)
    seed_entries(engine, key, args.verify_entries)
    for workers in (1, os.cpu_count() or 2):
        # The machine is shared: each verification runs a few times; the median is reported.
        rates = []
        for _ in range(args.verify_runs):
            rate, checked = bench_verify(engine, key, url, workers)
            rates.append(rate)
        results[f"sqlite.verify_entries_per_s.{workers}_proc"] = statistics.median(rates)
        results[f"sqlite.verify_runs.{workers}_proc"] = [round(r) for r in rates]
    results["sqlite.verify_entries"] = checked
    engine.dispose()
    enc, dec = bench_fields(args.field_ops)
    results["field_encrypt_per_s"], results["field_decrypt_per_s"] = enc, dec

    table = Table(title="creditgate foundation benchmark (one run)")
    table.add_column("measure")
    table.add_column("result", justify="right")
    table.add_column("target", justify="right")
    targets = {"sqlite.appends_per_s.32": "≥ 5,000/s",
               f"sqlite.verify_entries_per_s.{os.cpu_count() or 2}_proc": "≥ 200,000/s"}
    for k, v in results.items():
        if isinstance(v, float):
            table.add_row(k, f"{v:,.0f}", targets.get(k, ""))
        elif isinstance(v, list):
            table.add_row(k, ", ".join(f"{x:,}" for x in v), "")
    table.add_row("sqlite.verify_entries", f"{checked:,}", "")
    console.print(table)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "foundation.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
