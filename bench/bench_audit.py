"""Auditor benchmark: proofs and searches on a log of 1,000,000 entries.

Run: .venv/bin/python bench/bench_audit.py [--entries 1000000] [--pg-url URL] [--keep DIR]

1. Builds the log directly (service.audit_log.bulk, the writer's own append path
   in large transactions; not over HTTP): 60 days of varied traffic, a signed
   checkpoint per 1,000 entries, the stored subtree roots as the writer keeps them.
2. Proof latency, p50 and p99: inclusion proofs of random entries in the newest
   checkpoint and consistency proofs between random checkpoints, as the routes
   compute them (``LogTree`` on one connection); then through the app in-process
   (token check, route, proof, and the durable audit entry each call makes).
3. The same proofs with subtree roots read from 2**4 leaves up (the roots of
   levels 4 to 7 are added for this after the build), and only from 2**10 and
   2**12 up (more leaves hashed per proof).
4. The writer's cost per entry with subtree roots stored from 2**1, 2**4 and
   2**8 leaves up and with none, in batches of 16 (a typical group commit).
5. Entries-search latency per filter (p50, p99; 100 entries a page), and the
   summary report for one day and for 30 days.

Nothing asserts; numbers go to stdout and bench/results/audit.json. The machine
is shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_foundation import fresh_db
from litestar.testing import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import event

from audit import MerkleFrontier, format_ts
from policies.access import CHINA_STANDARD_TIME
from policies.anomaly import load_anomaly_settings
from service.admin.registry import Actor, register_account
from service.audit_log.bulk import bulk_append
from service.audit_log.proofs import checkpoints_after, latest_checkpoint
from service.audit_log.tree import NODE_LEVEL, LogTree
from service.audit_log.writer import AuditEvent, AuditWriter
from service.auditor.queries import EntryQuery, search_entries
from service.auditor.summary import summarize
from service.cli.progress import progress_bar
from service.config import Settings
from service.crypto.keys import init_key_file
from service.db.engine import IMMEDIATE, driver_sql, make_engine
from service.db.migrate import upgrade
from service.db.raw import raw_connection
from service.http.app import create_app
from service.identity.policy import WEB_CLIENT_ID
from service.runtime import build_services

console = Console()
DAYS = 60
INSTITUTIONS = [f"{0x1000 + i:032x}" for i in range(50)]
PURPOSES = ("loan_approval", "credit_card_approval", "post_loan_management", "guarantee_review",
            "employment_screening", "rental_screening")
DENIALS = ("consent_revoked", "consent_expired", "consent_exhausted", "purpose_mismatch", "consent_not_held")


def traffic(n: int, seed: int = 2026) -> Iterator[AuditEvent]:
    """``n`` events shaped like the service's own: mostly governed queries (6% denied),
    consent requests, grants and revocations, own reports, tokens; a few rare actions."""
    rng = random.Random(seed)
    for i in range(n):
        r = rng.random()
        inst = INSTITUTIONS[min(int(rng.paretovariate(1.1)) - 1, 49)]
        subject = f"{rng.randrange(100_000):032x}"
        consent = f"{rng.randrange(20_000):032x}"
        purpose = PURPOSES[rng.randrange(len(PURPOSES))]
        if i % 100_000 == 99_999:
            yield AuditEvent(actor_type="operator", actor_id=f"{7:032x}", action="admin.client.revoke",
                             decision="record", reason="revoked", details={"client_id": f"{i:032x}"})
        elif r < 0.80:
            if rng.random() < 0.06:
                yield AuditEvent(actor_type="institution", actor_id=inst, action="query", decision="deny",
                                 reason=DENIALS[rng.randrange(len(DENIALS))], subject=subject, purpose=purpose,
                                 consent_id=consent, request_id=f"{rng.getrandbits(128):032x}",
                                 details={"query_id": f"{rng.getrandbits(128):032x}"})
            else:
                yield AuditEvent(actor_type="institution", actor_id=inst, action="query", decision="allow",
                                 reason="consent", subject=subject, purpose=purpose, consent_id=consent,
                                 request_id=f"{rng.getrandbits(128):032x}",
                                 details={"query_id": f"{rng.getrandbits(128):032x}",
                                          "fields": ["id_number", "name"],
                                          "categories": ["administrative_penalty", "identity"],
                                          "records": [f"{rng.getrandbits(128):032x}"],
                                          "response_sha256": f"{rng.getrandbits(256):064x}"})
        elif r < 0.88:
            yield AuditEvent(actor_type="institution", actor_id=inst, action="consent.request", decision="record",
                             reason="recorded", subject=subject, purpose=purpose,
                             details={"request": f"{rng.getrandbits(128):032x}", "valid_days": 30})
        elif r < 0.94:
            yield AuditEvent(actor_type="subject", actor_id=f"{rng.getrandbits(128):032x}", action="consent.grant",
                             decision="record", reason="recorded", subject=subject, purpose=purpose,
                             consent_id=consent, details={"max_uses": 3})
        elif r < 0.96:
            yield AuditEvent(actor_type="subject", actor_id=f"{rng.getrandbits(128):032x}", action="consent.revoke",
                             decision="record", reason="recorded", subject=subject, purpose=purpose,
                             consent_id=consent)
        elif r < 0.98:
            yield AuditEvent(actor_type="subject", actor_id=f"{rng.getrandbits(128):032x}", action="report.self",
                             decision="allow", reason="self", subject=subject)
        else:
            yield AuditEvent(actor_type="institution", actor_id=inst, action="auth.token", decision="allow",
                             reason="client_credentials", details={"client_id": f"{rng.getrandbits(128):032x}"})


class SpreadClock:
    """Entry times spread evenly over ``DAYS`` days ending now: each call is one step later."""

    def __init__(self, calls: int) -> None:
        self.start = datetime.now(UTC) - timedelta(days=DAYS)
        self.step = timedelta(days=DAYS) / max(calls, 1)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return format_ts(self.start + self.step * self.calls)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], "n": len(ordered)}


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


#: Indexes an index per code column would add (measured, not used by the service).
_CODE_INDEXES = ("ts", "actor_type, seq", "action, seq", "purpose, seq", "decision, seq", "reason, seq")


def writer_cost(workdir: Path, key: Any, entries: int, runs: int = 3) -> dict[str, Any]:
    """CPU cost of the writer per entry (fsync off), in batches of 16 entries: with subtree
    roots kept from 2**level leaves up, with none, and with an index per code column. The
    median of ``runs`` runs of each, interleaved so that a noisy neighbour hits them all."""
    variants = {"roots from 2^1": (1, False), "roots from 2^4": (4, False), "roots from 2^8": (8, False),
                "no roots": (62, False), "roots from 2^8 + code indexes": (8, True)}
    events = list(traffic(entries, seed=7))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for run in range(runs):
        for name, (level, indexed) in variants.items():
            url = f"sqlite:///{workdir / f'writer_{run}_{level}_{int(indexed)}.db'}"
            upgrade(url)
            engine = make_engine(url)
            # After the engine's own pragmas: no fsync, so that only CPU is measured.
            event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA synchronous = OFF"))
            if indexed:
                with engine.begin() as conn:
                    for i, columns in enumerate(_CODE_INDEXES):
                        conn.exec_driver_sql(f"CREATE INDEX bench_code_{i} ON audit_entries ({columns})")
            writer = AuditWriter(engine, key, node_level=level, checkpoint_every=1000, checkpoint_seconds=3600)
            started = time.process_time()
            with engine.connect() as conn:
                conn.execution_options(**IMMEDIATE)
                for i in range(0, entries, 16):
                    with conn.begin():
                        writer.append_in(conn, *events[i:i + 16])
            samples[name].append((time.process_time() - started) / entries * 1e6)
            engine.dispose()
    return {name: {"median_us": statistics.median(v), "runs_us": [round(x, 1) for x in v]}
            for name, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--pg-url", help="also run on PostgreSQL (database bench_audit is recreated)")
    parser.add_argument("--proofs", type=int, default=2000, help="proofs of each kind timed")
    parser.add_argument("--http-proofs", type=int, default=300, help="proofs of each kind timed over the app")
    parser.add_argument("--searches", type=int, default=40, help="searches timed per filter")
    parser.add_argument("--writer-entries", type=int, default=30_000)
    parser.add_argument("--keep", type=Path, help="keep the SQLite database in this directory")
    args = parser.parse_args()
    command = "bench/bench_audit.py " + shlex.join(sys.argv[1:])
    results: dict[str, Any] = {"command": command, "entries": args.entries}
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_audit_"))
    workdir.mkdir(parents=True, exist_ok=True)
    key_file = workdir / "keys.json"
    init_key_file(key_file)
    kinds = ["sqlite", *(["postgresql"] if args.pg_url else [])]
    for kind in kinds:
        results[kind] = run_kind(kind, workdir, key_file, args)
    from service.crypto.keys import load_keyring

    results["writer_us_per_entry"] = writer_cost(workdir, load_keyring(key_file).signing_key("audit"),
                                                 args.writer_entries)
    report(results)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "audit.json").write_text(json.dumps(results, indent=2))


def run_kind(kind: str, workdir: Path, key_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    url = fresh_db(kind, workdir, args.pg_url, "bench_audit")
    settings = Settings(data_dir=workdir / kind, database_url=url, key_file=key_file, log_level="WARNING")
    services = build_services(settings)
    clock = SpreadClock(2 * args.entries // 1000 + 2)
    writer = AuditWriter(services.engine, services.keyring.signing_key("audit"), checkpoint_every=1000,
                         checkpoint_seconds=10**9, clock=clock)
    started = time.perf_counter()
    services.checkpointer.start()  # as in the service: the WAL is copied back as it grows
    with progress_bar(f"{kind}: building the log", args.entries) as advance:
        bulk_append(writer, traffic(args.entries), per_transaction=20_000, progress=advance)
    services.checkpointer.stop()
    out["build_entries_per_s"] = args.entries / (time.perf_counter() - started)
    if kind == "sqlite":
        with services.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with services.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE audit_entries")
    rng = random.Random(1)
    with raw_connection(services.engine) as db:
        latest = latest_checkpoint(db)
        assert latest is not None
        sizes = [cp.tree_size for cp in checkpoints_after(db, 0, 10**7)]
        out["checkpoints"] = len(sizes)
        out["stored_subtree_roots"] = int(db.one("SELECT COUNT(*) FROM audit_nodes")[0])
    add_lower_roots(services.engine, 4)
    with raw_connection(services.engine) as db:
        for level in PROOF_LEVELS:
            tree = LogTree(db, node_level=level)
            n = args.proofs if level == NODE_LEVEL else args.proofs // 4
            inc = timed(lambda t=tree: t.inclusion(rng.randrange(latest.tree_size), latest.tree_size), n)
            con = timed(lambda t=tree: _consistency(t, sizes, rng), n)
            out[f"inclusion_level_{level}"] = percentiles(inc)
            out[f"consistency_level_{level}"] = percentiles(con)
            out[f"proof_hashes_level_{level}"] = len(tree.inclusion(latest.tree_size // 3, latest.tree_size))
        out["search"] = searches(db, rng, args.searches)
        settings_anomaly = load_anomaly_settings()
        last_day = (datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).date() - timedelta(days=1))
        for days in (1, 30):
            first = last_day - timedelta(days=days - 1)
            out[f"summary_{days}_days"] = percentiles(timed(
                lambda f=first: summarize(db, f, last_day, settings_anomaly), 3))
    services.start()
    try:
        out["http"] = over_http(services, sizes, latest.tree_size, rng, args.http_proofs)
    finally:
        services.close()
    return out


#: Levels from which proofs read stored subtree roots, in the measurements.
PROOF_LEVELS = (4, 8, 10, 12)


def add_lower_roots(engine: Any, level: int) -> int:
    """Store the roots of levels ``level`` to 7 too (the writer keeps 8 and up), so that
    proofs reading roots from 2**level up can be timed on the same log."""
    frontier = MerkleFrontier()
    rows: list[tuple[int, int, bytes]] = []
    with raw_connection(engine) as db:
        for (lh,) in db.all("SELECT leaf_hash FROM audit_entries ORDER BY seq"):
            rows += [r for r in frontier.append_completed(bytes(lh), level) if r[0] < NODE_LEVEL]
    with engine.begin() as conn:
        conn.exec_driver_sql(driver_sql(engine, "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)"),
                             rows)
    return len(rows)


def _consistency(tree: LogTree, sizes: list[int], rng: random.Random) -> list[bytes]:
    a, b = sorted(rng.sample(sizes, 2))
    return tree.consistency(a, b)


def searches(db: Any, rng: random.Random, runs: int) -> dict[str, Any]:
    """Latency of one page (100 entries) per filter, with values drawn as an auditor would."""
    size = int(db.one("SELECT size FROM audit_head WHERE id = 1")[0])
    middle = db.one("SELECT ts FROM audit_entries WHERE seq = ?", (size // 2,))[0]
    hour_later = format_ts(datetime.fromisoformat(middle.replace("Z", "+00:00")) + timedelta(hours=1))
    cases: dict[str, Callable[[], EntryQuery]] = {
        "none (first page)": lambda: EntryQuery(),
        "none (page deep in the log)": lambda: EntryQuery(after=rng.randrange(size)),
        "from/to (one hour)": lambda: EntryQuery(since=middle, until=hour_later),
        "actor_type=subject": lambda: EntryQuery(equal={"actor_type": "subject"}),
        "actor_type=operator (rare)": lambda: EntryQuery(equal={"actor_type": "operator"}),
        "actor_id (an institution)": lambda: EntryQuery(equal={"actor_id": rng.choice(INSTITUTIONS)}),
        "action=consent.revoke": lambda: EntryQuery(equal={"action": "consent.revoke"}),
        "action=admin.client.revoke (rare)": lambda: EntryQuery(equal={"action": "admin.client.revoke"}),
        "subject": lambda: EntryQuery(equal={"subject": f"{rng.randrange(100_000):032x}"}),
        "consent_id": lambda: EntryQuery(equal={"consent_id": f"{rng.randrange(20_000):032x}"}),
        "purpose": lambda: EntryQuery(equal={"purpose": rng.choice(PURPOSES)}),
        "decision=deny": lambda: EntryQuery(equal={"decision": "deny"}),
        "reason=consent_exhausted": lambda: EntryQuery(equal={"reason": "consent_exhausted"}),
        "actor_id + decision=deny + one day": lambda: EntryQuery(
            since=middle, until=format_ts(datetime.fromisoformat(middle.replace("Z", "+00:00")) + timedelta(days=1)),
            equal={"actor_id": rng.choice(INSTITUTIONS[:5]), "decision": "deny"}),
    }
    out: dict[str, Any] = {}
    for name, make in cases.items():
        counts: list[int] = []

        def one(make: Callable[[], EntryQuery] = make, counts: list[int] = counts) -> None:
            items, _ = search_entries(db, make())
            counts.append(len(items))

        out[name] = {**percentiles(timed(one, runs)), "mean_items": statistics.mean(counts)}
    return out


def over_http(services: Any, sizes: list[int], size: int, rng: random.Random, runs: int) -> dict[str, Any]:
    """Proofs through the app in-process: token check, the route, the proof and the call's
    own durable audit entry (one commit each)."""
    account = register_account(services, actor=Actor("operator", "bench"), username="bench-auditor",
                               password="a long enough password", role="auditor")
    token = services.tokens.issue(subject=account.id, client_id=WEB_CLIENT_ID, role="auditor",
                                  scope="audit:read").access_token
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {}
    with TestClient(create_app(services=services)) as http:
        def inclusion() -> None:
            resp = http.get("/v1/audit/proofs/inclusion", params={"seq": rng.randrange(1, size + 1), "size": size},
                            headers=headers)
            assert resp.status_code == 200, resp.text

        def consistency() -> None:
            a, b = sorted(rng.sample(sizes, 2))
            resp = http.get("/v1/audit/proofs/consistency", params={"from": a, "to": b}, headers=headers)
            assert resp.status_code == 200, resp.text

        def search() -> None:
            resp = http.get("/v1/audit/entries", params={"actor_id": rng.choice(INSTITUTIONS), "limit": 100},
                            headers=headers)
            assert resp.status_code == 200, resp.text

        for name, fn in (("inclusion", inclusion), ("consistency", consistency), ("entries_actor_id", search)):
            out[name] = percentiles(timed(fn, runs))
    return out


def report(results: dict[str, Any]) -> None:
    console.print(f"[bold]command:[/bold] .venv/bin/python {results['command']}")
    for kind in ("sqlite", "postgresql"):
        if kind not in results:
            continue
        r = results[kind]
        table = Table(title=f"{kind}: {results['entries']:,} entries, {r['checkpoints']:,} checkpoints, "
                            f"{r['stored_subtree_roots']:,} stored subtree roots; "
                            f"built at {r['build_entries_per_s']:,.0f} entries/s")
        for col in ("measure", "p50 ms", "p99 ms", "runs", "note"):
            table.add_column(col, justify="left" if col in ("measure", "note") else "right")
        for level in PROOF_LEVELS:
            for kind_ in ("inclusion", "consistency"):
                p = r[f"{kind_}_level_{level}"]
                table.add_row(f"{kind_} proof, roots read from 2^{level}", f"{p['p50_ms']:.3f}",
                              f"{p['p99_ms']:.3f}", str(p["n"]),
                              f"{r[f'proof_hashes_level_{level}']} hashes" if kind_ == "inclusion" else "")
        for name, p in r["http"].items():
            table.add_row(f"over the app: {name}", f"{p['p50_ms']:.2f}", f"{p['p99_ms']:.2f}", str(p["n"]),
                          "with its durable audit entry")
        for name, p in r["search"].items():
            table.add_row(f"search: {name}", f"{p['p50_ms']:.2f}", f"{p['p99_ms']:.2f}", str(p["n"]),
                          f"{p['mean_items']:.0f} items")
        for days in (1, 30):
            p = r[f"summary_{days}_days"]
            table.add_row(f"summary, {days} day(s)", f"{p['p50_ms']:.0f}", f"{p['p99_ms']:.0f}", str(p["n"]), "")
        console.print(table)
    table = Table(title="writer CPU per entry (SQLite, fsync off, batches of 16; median of the runs)")
    for col in ("variant", "µs per entry", "runs"):
        table.add_column(col)
    for name, v in results["writer_us_per_entry"].items():
        table.add_row(name, f"{v['median_us']:.1f}", ", ".join(str(x) for x in v["runs_us"]))
    console.print(table)


if __name__ == "__main__":
    main()
