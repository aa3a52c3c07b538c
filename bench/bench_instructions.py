"""Instructions per governed query, counted by valgrind: a measure the noisy machine cannot move.

Run: .venv/bin/python bench/bench_instructions.py [--small 100] [--large 600]

Timings on this shared two-vCPU machine vary by ±15% from run to run, which
hides any change smaller than that. Callgrind counts the instructions the
process executes instead, and the count repeats from run to run. The script
runs the service in-process twice under callgrind, each time on a fresh SQLite
data directory seeded the way bench_queries.py seeds it (the seeding runs
outside valgrind). Each run sends 300 warm-up queries and then ``--small`` or
``--large`` governed queries straight into the ASGI app, 32 at a time. The
difference of the two totals, divided by the difference in queries, is the
cost of one query: the fast lane, token check, gate, decryption, masking,
signature and the query's share of its group commit. HTTP parsing (granian) is
not included, and neither is time spent in the kernel: fsync and other system
calls do not count.

Needs valgrind (Debian package). Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 32
WARM_UP = 300
console = Console()


async def _drive(seeded: dict[str, Any], queries: int) -> dict[int, int]:
    from bench_queries import _basic, record_bodies
    from litestar.testing import AsyncTestClient

    from service.http.app import create_app

    app = create_app()
    statuses: dict[int, int] = {}
    async with AsyncTestClient(app, base_url="http://127.0.0.1") as client:
        form = {"grant_type": "client_credentials"}

        def basic(org: dict[str, str]) -> dict[str, str]:
            return _basic(org["client_id"], org["client_secret"])

        provider = (await client.post("/oauth/token", data=form, headers=basic(seeded["provider"]))).json()
        for body in record_bodies(seeded["people"], date.today()):
            resp = await client.post("/v1/records", json=body,
                                     headers={"Authorization": f"Bearer {provider['access_token']}"})
            resp.raise_for_status()
        bank = (await client.post("/oauth/token", data=form, headers=basic(seeded["bank"]))).json()
        headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                   (b"authorization", f"Bearer {bank['access_token']}".encode())]
        consents = seeded["consents"]

        async def one(i: int) -> None:
            body = json.dumps({"consent_id": consents[i % len(consents)], "purpose": "post_loan_management"}).encode()
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                     "scheme": "http", "path": "/v1/queries", "raw_path": b"/v1/queries", "query_string": b"",
                     "root_path": "", "headers": [*headers, (b"content-length", str(len(body)).encode())],
                     "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
            delivered = False

            async def receive() -> dict[str, Any]:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()  # the client never goes away
                raise AssertionError("unreachable")

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses[message["status"]] = statuses.get(message["status"], 0) + 1

            await app(scope, receive, send)

        async def run(total: int) -> None:
            numbers = iter(range(total))

            async def worker() -> None:
                for i in numbers:
                    await one(i)

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

        await run(WARM_UP)
        statuses.clear()
        await run(queries)
    return statuses


def drive(queries: int) -> None:
    """Seed a fresh data directory (outside valgrind), then send ``queries`` governed queries."""
    work = Path(tempfile.mkdtemp(prefix="creditgate-instructions-"))
    os.environ.update({"CREDITGATE_DATA_DIR": str(work / "data"), "CREDITGATE_LOG_LEVEL": "WARNING",
                       "CREDITGATE_ISSUER": "http://127.0.0.1:8000"})
    try:
        seeded = subprocess.run([sys.executable, str(ROOT / "bench/bench_queries.py"), "--seed-only"],
                                capture_output=True, text=True, cwd=ROOT, check=True)
        statuses = asyncio.run(_drive(json.loads(seeded.stdout.strip().splitlines()[-1]), queries))
        print(json.dumps({"statuses": statuses}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _counted(queries: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
         "--drive", str(queries)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def _total(run: subprocess.Popen[str]) -> tuple[int, dict[str, int]]:
    out, err = run.communicate()
    found = re.search(r"Collected : (\d+)", err)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"the counted run failed:\n{err[-2000:]}")
    return int(found.group(1)), json.loads(out.strip().splitlines()[-1])["statuses"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100, help="queries in the shorter run")
    parser.add_argument("--large", type=int, default=600, help="queries in the longer run")
    parser.add_argument("--drive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive is not None:
        drive(args.drive)
        return
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    if args.large <= args.small:
        raise SystemExit("--large must be more than --small")
    console.print(f"counting {args.small} and {args.large} governed queries under callgrind (a few minutes) …")
    small, large = _counted(args.small), _counted(args.large)  # the two runs share the two vCPUs
    (a, sa), (b, sb) = _total(small), _total(large)
    per_query = (b - a) / (args.large - args.small)
    console.print(f"answers: {sa} and {sb}")
    console.print(f"[bold]{per_query / 1000:,.0f} k instructions per governed query[/] "
                  f"(totals {a:,} and {b:,})")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "instructions.json").write_text(json.dumps(
        {"instructions_per_query": per_query, "small": [args.small, a], "large": [args.large, b]}, indent=2))


if __name__ == "__main__":
    main()
