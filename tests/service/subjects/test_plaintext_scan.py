"""No plaintext name, ID number, phone, card, address, record facts or document number of the demo
data in the stored database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psycopg
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from policies.access import CHINA_STANDARD_TIME
from service.demo.load import load_demo
from service.demo.people import generate_people
from service.demo.records import facts_texts
from service.runtime import Services

COUNT = 60


def _needles() -> list[bytes]:
    out: list[bytes] = []
    for p in generate_people(COUNT):
        for value in (p.id_number, p.name, p.mobile, p.address, p.bank_card):
            if value:
                out.append(value.encode("utf-8"))
        out.append(p.id_number[:14].encode())  # a leading fragment of the ID number too
    today = datetime.now(CHINA_STANDARD_TIME).date()
    texts = facts_texts(list(generate_people(COUNT)), 2026, today)
    assert texts
    out += [t.encode("utf-8") for t in texts]
    return out


def _sqlite_bytes(url: str) -> bytes:
    path = Path(make_url(url).database or "")
    blobs = [path.read_bytes()]
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            blobs.append(side.read_bytes())
    return b"".join(blobs)


def _postgres_dump(services: Services) -> bytes:
    url = make_url(services.settings.database_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    chunks: list[bytes] = []
    with psycopg.connect(conninfo) as conn:
        for table in inspect(services.engine).get_table_names():
            with conn.cursor().copy(f'COPY "{table}" TO STDOUT') as copy:
                for data in copy:
                    chunks.append(bytes(data))
    dump = b"".join(chunks)
    assert dump, "the dump is empty: the scan would prove nothing"
    return dump


def test_database_holds_no_plaintext_personal_data(services: Services) -> None:
    summary = load_demo(services, COUNT)
    assert summary.new_subjects == COUNT
    assert summary.new_records > 0
    services.writer.checkpoint_now()
    is_sqlite = services.settings.is_sqlite
    stored = _sqlite_bytes(services.settings.database_url) if is_sqlite else _postgres_dump(services)
    # PostgreSQL COPY prints bytea as hex; scan that form as well as raw bytes.
    leaks = [n for n in _needles() if n in stored or n.hex().encode() in stored]
    assert leaks == []
    # The scan is able to see plaintext: a known marker written in clear is found.
    assert b"subject.register" in stored or b"subject.register".hex().encode() in stored
