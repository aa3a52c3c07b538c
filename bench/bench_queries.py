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
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

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
    from datetime import date

    today = date.today()
    made = 0
    for n, number in enumerate(people):
        for k in range(RECORDS_PER_PERSON):
            decided = (today - timedelta(days=30 + 97 * k + n)).isoformat()
            _http("POST", f"{api}/v1/records", headers=headers, body={
                "id_number": number, "name": "王五", "item_code": "admin_penalty_general",
                "document": {"type": "admin_penalty_decision", "number": f"京朝市监罚〔2026〕{n * 10 + k}号",
                             "authority": "北京市朝阳区市场监督管理局", "date": decided},
                "decision_date": decided, "facts": "未按规定公示年度报告，经责令改正逾期未改正",
                "procedure": "general", "first_violation_corrected": False, "leniency": [],
            })
            made += 1
    return made


def rss_mb(pid: int) -> float:
    """Resident memory of the server process and all its descendants."""
    procs = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                status = (entry / "status").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            rss = re.search(r"VmRSS:\s+(\d+) kB", status)
            procs[int(entry.name)] = (ppid, int(rss.group(1)) if rss else 0)
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        if p in procs:
            total += procs[p][1]
            stack.extend(c for c, (pp, _) in procs.items() if pp == p)
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants, so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            procs[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        if p in procs:
            total += procs[p][1]
            stack.extend(c for c, (pp, _) in procs.items() if pp == p)
    return total


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread (pid/tid name) of a process tree."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if int(proc.name) != pid and ppid != pid:
            continue
        for task in (proc / "task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            out[f"{proc.name}/{task.name} {name}"] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def wrk(url: str, duration: int, connections: int, script: Path | None, env: dict[str, str],
        server_pid: int | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
    cpu = cpu_seconds(server_pid) - cpu_before if server_pid else float("nan")

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


def run_backend(kind: str, db_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"creditgate-bench-{kind}-"))
    port = _free_port()
    env = {"CREDITGATE_DATA_DIR": str(work / "data"), "CREDITGATE_PORT": str(port), "CREDITGATE_LOG_LEVEL": "WARNING",
           "CREDITGATE_ISSUER": f"http://127.0.0.1:{port}"}
    if db_url:
        env["CREDITGATE_DATABASE_URL"] = db_url
    console.print(f"[bold]{kind}[/]: seeding {PEOPLE} people, {CONSENTS} consents …")
    seeded = subprocess.run([sys.executable, __file__, "--seed-only"], env={**os.environ, **env},
                            capture_output=True, text=True, cwd=ROOT, check=True)
    data = json.loads(seeded.stdout.strip().splitlines()[-1])
    server_cmd = os.environ.get("CG_SERVER_CMD", f"{ROOT / '.venv/bin/creditgate'} serve").split()
    server_log = (work / "server.log").open("w")
    server = subprocess.Popen([*server_cmd, "--port", str(port)], env={**os.environ, **env}, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=server_log)
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
        wrk(f"{api}/health/live", 2, args.connections, None, {})  # warm-up
        ceiling = wrk(f"{api}/health/live", args.duration, args.connections, None, {}, server.pid)
        spy = None
        if os.environ.get("CG_PYSPY"):
            spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "-o", os.environ["CG_PYSPY"], "-f", "raw",
                                    "-d", str(args.duration), "--subprocesses", "-p", str(server.pid),
                                    *os.environ.get("CG_PYSPY_ARGS", "").split()],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for extra in filter(None, os.environ.get("CG_EXTRA_PATHS", "").split(",")):
            if os.environ.get("CG_PYSPY_EXTRA"):
                spy = subprocess.Popen([str(ROOT / ".venv/bin/py-spy"), "record", "-o", os.environ["CG_PYSPY_EXTRA"],
                                        "-f", "raw", "-d", str(args.duration), "--subprocesses", "-p", str(server.pid),
                                        *os.environ.get("CG_PYSPY_ARGS", "").split()],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            r = wrk(f"{api}{extra}", args.duration, args.connections, script, wrk_env, server.pid)
            if os.environ.get("CG_PYSPY_EXTRA"):
                spy.wait(timeout=60)
            console.print(f"  {extra}: {r['rps']:,.0f} req/s p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} "
                          f"non2xx {r['non_2xx']:.0f} server CPU {r['server_cpu_us']:.0f} us/req")
        threads_before = thread_cpu(server.pid)
        governed = wrk(f"{api}/v1/queries", args.duration, args.connections, script, wrk_env, server.pid)
        if os.environ.get("CG_THREADS"):
            after = thread_cpu(server.pid)
            for key, value in sorted(after.items(), key=lambda kv: -(kv[1] - threads_before.get(kv[0], 0))):
                console.print(f"  thread {key}: {(value - threads_before.get(key, 0)) / args.duration:.0%} of a core")
        if spy:
            spy.wait(timeout=60)
        rss = rss_mb(server.pid)
        metrics = urllib.request.urlopen(f"{api}/metrics", timeout=10).read().decode()
        batch = {m.group(1): float(m.group(2)) for m in re.finditer(
            r"^creditgate_audit_batch_entries_(sum|count) ([\d.e+]+)$", metrics, re.M)}
        if batch.get("count"):
            console.print(f"  audit batches: {batch['count']:,.0f}, mean size {batch['sum'] / batch['count']:.1f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
        if os.environ.get("CG_KEEP_LOG"):
            shutil.copy(work / "server.log", os.environ["CG_KEEP_LOG"])
        shutil.rmtree(work, ignore_errors=True)
    return {"records": records, "ceiling": ceiling, "governed": governed, "rss_mb": rss,
            "ratio": governed["rps"] / ceiling["rps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg-url", help="PostgreSQL admin URL; a fresh database is created for the run")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
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
    for col in ("database", "endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx", "server CPU µs/req", "server RSS MB"):
        table.add_column(col, justify="right")
    for kind, r in results.items():
        for name in ("ceiling", "governed"):
            m = r[name]
            table.add_row(kind, "GET /health/live" if name == "ceiling" else "POST /v1/queries", f"{m['rps']:,.0f}",
                          f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.2f}", f"{m['non_2xx']:.0f}",
                          f"{m['server_cpu_us']:.0f}", f"{r['rss_mb']:.0f}" if name == "governed" else "")
        table.add_row(kind, "governed / ceiling", f"{r['ratio']:.1%}", "", "", "", "", "")
    console.print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "queries.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
