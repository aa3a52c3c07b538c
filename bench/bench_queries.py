"""Load test of POST /v1/queries over HTTP, against the service as the README runs it.

Run: .venv/bin/python bench/bench_queries.py [--pg-url URL] [--duration 15] [--connections 32]

For each database it prepares a fresh data directory, seeds a bank, people,
records (over HTTP, through POST /v1/records) and consents, starts
`creditgate serve` (granian, one worker), and drives it with wrk (one thread,
so the load generator leaves the server most of the CPU):
  (a) GET /health/live, a trivial JSON endpoint of the same app: the ceiling;
  (b) POST /v1/queries, the governed path with a durable audit entry per query.
It prints requests/s, p50/p99 latency, non-2xx counts and the server's RSS.
Not a test: it asserts nothing. Needs `wrk` (Debian package) on the PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from procstats import cpu_seconds, pss_mb, rss_mb, thread_cpu
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
console = Console()
CONSENTS = 700
PEOPLE = 20
RECORDS_PER_PERSON = 4

QUERY_LUA = r"""
local ids = {}
for line in io.lines(os.getenv("CG_CONSENTS")) do ids[#ids + 1] = line end
local token = os.getenv("CG_TOKEN")
local i = 0
request = function()
  i = i + 1
  local body = '{"consent_id":"' .. ids[(i % #ids) + 1] .. '","purpose":"post_loan_management"}'
  return wrk.format("POST", nil,
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
          form: dict[str, str] | None = None) -> Any:
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if form is not None:
        data = "&".join(f"{k}={v}" for k, v in form.items()).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def _basic(client_id: str, secret: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def seed(env: dict[str, str]) -> dict[str, Any]:
    """Bank, provider, people and consents, written in-process through the service's own functions."""
    os.environ.update(env)
    from policies import Role, age_on, make_uscc, parse_resident_id
    from service.admin.registry import Actor, register_account, register_institution, register_provider
    from service.config import Settings
    from service.consent.service import ConsentService, Narrowing, NewRequest
    from service.crypto.keys import init_key_file
    from service.db.migrate import upgrade
    from service.db.types import utcnow
    from service.demo.people import generate_people
    from service.identity.principal import Principal
    from service.runtime import build_services

    def new_uscc(n: int) -> str:
        return make_uscc(f"9111010{n:03d}MA0BENCH"[:17])

    settings = Settings.from_env()
    init_key_file(settings.key_file)
    upgrade(settings.database_url)
    svc = build_services(settings)
    svc.start()
    actor = Actor("operator", "bench")
    bank = register_institution(svc, actor=actor, name="基准测试银行", uscc=new_uscc(1), institution_type="bank",
                                permitted_purposes=["loan_approval", "post_loan_management"],
                                auth_method="client_secret_basic", jwk=None)
    provider = register_provider(svc, actor=actor, name="基准测试市场监管局", uscc=new_uscc(2),
                                 provider_type="market_regulation", auth_method="client_secret_basic", jwk=None)
    people = []
    today = utcnow().date()
    adults = [p for p in generate_people(PEOPLE * 2, seed=7)
              if age_on(parse_resident_id(p.id_number).birth_date, today) >= 18][:PEOPLE]
    for n, person in enumerate(adults):
        number = person.id_number
        account = register_account(svc, actor=actor, username=f"bench.person{n}", password="bench password 12",
                                   role="subject", id_number=number, name="王五")
        people.append((number, account))
    bank_principal = Principal(
        role=Role.INSTITUTION, actor_id=bank.record.id, institution_id=bank.record.id, institution_type="bank",
        permitted_purposes=frozenset({"loan_approval", "post_loan_management"}),
    )
    consents = ConsentService(svc)
    ids = []
    now = utcnow() - timedelta(minutes=1)
    for n in range(CONSENTS):
        number, account = people[n % PEOPLE]
        req = consents.create_request(bank_principal, NewRequest(
            id_number=number, purpose="post_loan_management",
            categories=["identity", "administrative_penalty", "judicial_enforcement"],
            valid_days=365, valid_until=None, max_queries=36, reason="贷后管理"), None, now)
        person = Principal(role=Role.SUBJECT, actor_id=account.id, account_id=account.id,
                           subject_id=account.subject_id)
        ids.append(consents.grant(person, req.id, Narrowing(), None, now).id)
    svc.close()
    return {
        "bank": bank.credentials.as_dict(), "provider": provider.credentials.as_dict(),
        "people": [number for number, _ in people], "consents": ids,
    }


def seed_records(api: str, provider: dict[str, str], people: list[str]) -> int:
    """Records over HTTP, the way a provider registers them."""
    token = _http("POST", f"{api}/oauth/token", form={"grant_type": "client_credentials"},
                  headers=_basic(provider["client_id"], provider["client_secret"]))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    made = 0
    for body in record_bodies(people, date.today()):
        _http("POST", f"{api}/v1/records", headers=headers, body=body)
        made += 1
    return made


def record_bodies(people: list[str], today: date) -> list[dict[str, Any]]:
    """The ``POST /v1/records`` bodies of the benchmark: four penalties per person."""
    bodies = []
    for n, number in enumerate(people):
        for k in range(RECORDS_PER_PERSON):
            decided = (today - timedelta(days=30 + 97 * k + n)).isoformat()
            bodies.append({
                "id_number": number, "name": "王五", "item_code": "admin_penalty_general",
                "document": {"type": "admin_penalty_decision", "number": f"京朝市监罚〔2026〕{n * 10 + k}号",
                             "authority": "北京市朝阳区市场监督管理局", "date": decided},
                "decision_date": decided, "facts": "未按规定公示年度报告，经责令改正逾期未改正",
                "procedure": "general", "first_violation_corrected": False, "leniency": [],
            })
    return bodies


def wrk(url: str, duration: int, connections: int, script: Path | None, env: dict[str, str],
        server_pid: int) -> dict[str, float]:
    """One wrk run; requests/s, latency percentiles, non-2xx and the server's CPU per request."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    cpu_before = cpu_seconds(server_pid)
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
    cpu = cpu_seconds(server_pid) - cpu_before

    def lat(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    requests = float(total.group(1)) if total else 0.0
    return {"rps": rps, "p50_ms": lat("50"), "p99_ms": lat("99"),
            "non_2xx": float(non2xx.group(1)) if non2xx else 0.0, "requests": requests,
            "server_cpu_us": cpu / requests * 1e6 if requests else float("nan")}


def histogram(metrics: str, name: str) -> dict[str, float]:
    """Count, sum and approximate p50/p99 (upper bucket bounds) of a Prometheus histogram."""
    found = re.findall(rf'^{name}_bucket{{le="([^"]+)"}} ([\d.e+]+)$', metrics, re.M)
    buckets = [(float(b), float(v)) for b, v in found if b != "+Inf"]

    def scalar(suffix: str) -> float:
        m = re.search(rf"^{name}_{suffix} ([\d.e+]+)$", metrics, re.M)
        return float(m.group(1)) if m else 0.0

    count, total = scalar("count"), scalar("sum")

    def quantile(q: float) -> float:
        for bound, cumulative in buckets:
            if cumulative >= q * count:
                return bound
        return float("inf")

    return {"count": count, "mean": total / count if count else float("nan"),
            "p50": quantile(0.5), "p99": quantile(0.99)}


def run_backend(kind: str, db_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"creditgate-bench-{kind}-"))
    port, metrics_port = _free_port(), _free_port()
    # /metrics answers operator tokens only on the API port; the bench scrapes the separate listener.
    env = {"CREDITGATE_DATA_DIR": str(work / "data"), "CREDITGATE_PORT": str(port), "CREDITGATE_LOG_LEVEL": "WARNING",
           "CREDITGATE_ISSUER": f"http://127.0.0.1:{port}", "CREDITGATE_METRICS_LISTEN": f"127.0.0.1:{metrics_port}"}
    if db_url:
        env["CREDITGATE_DATABASE_URL"] = db_url
    console.print(f"[bold]{kind}[/]: seeding {PEOPLE} people, {CONSENTS} consents …")
    seeded = subprocess.run([sys.executable, __file__, "--seed-only"], env={**os.environ, **env},
                            capture_output=True, text=True, cwd=ROOT, check=True)
    data = json.loads(seeded.stdout.strip().splitlines()[-1])
    server_log = (work / "server.log").open("w")
    server = subprocess.Popen([str(ROOT / ".venv/bin/creditgate"), "serve", "--port", str(port)],
                              env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=server_log)
    api = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                _http("GET", f"{api}/health/live")
                break
            except OSError:
                time.sleep(0.2)
        records = seed_records(api, data["provider"], data["people"])
        token = _http("POST", f"{api}/oauth/token", form={"grant_type": "client_credentials"},
                      headers=_basic(data["bank"]["client_id"], data["bank"]["client_secret"]))["access_token"]
        consents = work / "consents.txt"
        consents.write_text("\n".join(data["consents"]) + "\n")
        script = work / "query.lua"
        script.write_text(QUERY_LUA)
        wrk_env = {"CG_TOKEN": token, "CG_CONSENTS": str(consents)}
        wrk(f"{api}/health/live", 2, args.connections, None, {}, server.pid)  # warm-up
        ceiling = wrk(f"{api}/health/live", args.duration, args.connections, None, {}, server.pid)
        spy = None
        if args.profile:
            # py-spy samples only while a thread holds the GIL: where the server's Python time goes.
            spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "-o", args.profile, "-f", "raw", "--gil",
                                    "-d", str(args.duration), "--subprocesses", "-p", str(server.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        threads_before = thread_cpu(server.pid)
        wal = work / "data" / "creditgate.db-wal"
        sampler_stop = threading.Event()
        wal_sizes: list[int] = []

        def sample() -> None:
            while not sampler_stop.wait(0.5):
                wal_sizes.append(wal.stat().st_size if wal.exists() else 0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        governed = wrk(f"{api}/v1/queries", args.duration, args.connections, script, wrk_env, server.pid)
        threads_after = thread_cpu(server.pid)
        sampler_stop.set()
        sampler.join()
        if spy:
            spy.wait(timeout=60)
        rss, pss = rss_mb(server.pid), pss_mb(server.pid)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
        if args.keep_log:
            shutil.copy(work / "server.log", args.keep_log)
        shutil.rmtree(work, ignore_errors=True)
    busiest = sorted(((after - threads_before.get(name, 0.0)) / args.duration, name)
                     for name, after in threads_after.items())[::-1][:3]
    return {"records": records, "ceiling": ceiling, "governed": governed, "rss_mb": rss, "pss_mb": pss,
            "ratio": governed["rps"] / ceiling["rps"],
            "audit_batch": histogram(metrics, "creditgate_audit_batch_entries"),
            "audit_commit_s": histogram(metrics, "creditgate_audit_commit_seconds"),
            "wal_max_mb": max(wal_sizes, default=0) / 1e6,
            "busiest_threads": [{"thread": name.split(" ", 1)[1], "core_share": share} for share, name in busiest]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", help="PostgreSQL admin URL; a fresh database is created for the run")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--profile", help="write a py-spy GIL profile (raw) of the governed run here")
    parser.add_argument("--keep-log", help="copy the server's log here")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_only:
        print(json.dumps(seed({})))
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    results = {"sqlite": run_backend("sqlite", None, args)}
    if args.pg_url:
        from sqlalchemy import create_engine, text

        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "bench_queries" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "bench_queries"'))
        admin.dispose()
        results["postgresql"] = run_backend("postgresql", args.pg_url.rsplit("/", 1)[0] + "/bench_queries", args)
    table = Table(title=f"POST /v1/queries vs ceiling, {args.connections} connections, {args.duration}s each")
    for col in ("database", "endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx", "CPU µs/req"):
        table.add_column(col, justify="right")
    for kind, r in results.items():
        for name in ("ceiling", "governed"):
            m = r[name]
            table.add_row(kind, "GET /health/live" if name == "ceiling" else "POST /v1/queries", f"{m['rps']:,.0f}",
                          f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.2f}", f"{m['non_2xx']:.0f}",
                          f"{m['server_cpu_us']:.0f}")
        table.add_row(kind, "governed / ceiling", f"{r['ratio']:.1%}", "", "", "", "")
    console.print(table)
    for kind, r in results.items():
        batch, commit = r["audit_batch"], r["audit_commit_s"]
        threads = ", ".join(f"{t['thread']} {t['core_share']:.0%}" for t in r["busiest_threads"])
        console.print(f"{kind}: server RSS {r['rss_mb']:.0f} MB (PSS {r['pss_mb']:.0f} MB); "
                      f"audit: {batch['count']:,.0f} commits, {batch['mean']:.1f} entries each, "
                      f"commit p50 ≤ {commit['p50'] * 1000:g} ms, p99 ≤ {commit['p99'] * 1000:g} ms; "
                      f"largest WAL {r['wal_max_mb']:.1f} MB; "
                      f"busiest server threads: {threads}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "queries.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
