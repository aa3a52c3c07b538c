"""A pytest plugin: after the whole session, no plaintext personal data in the databases or the logs.

Invariant 6 of docs/ARCHITECTURE.md: no plaintext ID number, name,
phone, card, address, record facts or document number may appear in a database
file or in the log output. Individual tests check the data they write; this
plugin checks everything the suite wrote, once the suite has run.

Which values. Every plaintext personal value the suite feeds into the service,
collected while the tests run by wrapping the points where such values enter it
(installed at session start, removed at the end):

- ``FieldVault.encrypt``: every personal field on its way to being stored
  (subjects' ID number, name, mobile, address, bank card; records' document
  number and facts), named by the column it is sealed for (birth dates, sealed
  only to keep them apart from the ID number, are not looked for);
- ``FieldVault.encrypt_text``: free text sealed under the shared text key
  (consent requests' reasons);
- ``BlindIndex.compute``: every valid resident ID number looked up (consent
  requests for people the service may not know, guardians' wards, logins);
- ``RecordService.register``: the name, ID number, facts and document number of
  every registration, including the ones refused before anything is encrypted;
- a few fixed values used across the tests (:data:`WELL_KNOWN`).

Names shorter than two characters and other very short values are skipped (they
would match by accident); ID numbers are collected only when they pass the
GB 11643 check, and are looked for with an upper- and a lowercase ``x``. Each
value is looked for as UTF-8, as JSON ``\\uXXXX`` escapes (``ensure_ascii``), and
as hex (PostgreSQL prints ``bytea`` that way). Masked values such as ``张*丰``
are not the value and do not match.

What is scanned.

- SQLite: every SQLite file under this process's pytest base temp directory
  (each test's database is copied into its ``tmp_path``), with its ``-wal``,
  ``-shm`` and ``-journal`` side files, at the end of the session.
- PostgreSQL: the per-test databases are dropped in the teardown of the
  fixture that created them (``tests/conftest.py``, ``fresh_database``). A
  ``pytest_fixture_setup`` wrapper sees every fixture value that is a
  PostgreSQL URL and adds a finalizer to that fixture; fixture finalizers run
  last-in first-out, so it runs after the fixtures built on the database
  (services closed) and just before the ``DROP DATABASE``. It copies every
  table out with ``COPY ... TO STDOUT``; the copies are scanned at the end of
  the session.
- Logs: ``service.observability.logging.configure_logging`` is wrapped so that
  whatever stream it is given (stderr, a test's capture) is teed into one
  session-level file; it is called once at session start so that the service's
  logging (structlog JSON and stdlib records, both redacted) is in force from
  the first test. A marker line before each test attributes log lines to it.

With pytest-xdist each worker scans what it created and sends its summary to
the controller (``workeroutput``). Any finding, or a database that could not be
copied, fails the session (exit status 1, and "N plaintext findings" in the
final line). A finding names the kind of value, where it was found, the test
that owned the file or log lines and a short SHA-256 of the value, never the
value itself; test ids and paths in a report are redacted the same way, since
pytest puts test parameters into both.

Tests that write plaintext personal data on purpose are listed, with the reason,
in :data:`ALLOWED_OWNERS`; their files and log lines are not scanned.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

import pytest

from policies import InvalidIdentifier, parse_resident_id

#: Values used across the test suite, whether or not a given run reaches the service with them.
WELL_KNOWN: tuple[tuple[str, str], ...] = (
    ("id_number", "11010519491231002X"),
    ("name", "张三丰"),
    ("mobile", "13800138000"),
    ("bank_card", "6222021234567890123"),
    ("address", "北京市朝阳区建国路88号"),
)

#: Tests whose files and log lines are not scanned (node id, or node id prefix up to ``::`` or ``[``).
#: Only tests that put plaintext into a database or a log on purpose belong here.
ALLOWED_OWNERS: dict[str, str] = {
    # Plants plaintext values in SQLite files under its own tmp_path to prove the scanner finds them.
    "tests/test_plaintext_guard.py": "self-test of this plugin",
    # Registers whatever schemathesis generates from the OpenAPI document as names and
    # reasons (words of the document itself, short strings): not personal data, and they
    # turn up in log text by chance.
    "tests/contract/test_no_server_errors.py": "generated values, not personal data",
}

#: Which kind of personal value each sealed column holds.
COLUMN_KINDS: dict[str, str] = {
    "id_number_ct": "id_number",
    "name_ct": "name",
    "mobile_ct": "mobile",
    "address_ct": "address",
    "bank_card_ct": "bank_card",
    "document_number_ct": "document_number",
    "facts_ct": "facts",
}

#: Sealed values that are not looked for: a birth date is kept apart from the ID number
#: only so that age rules need not open the number; as a bare date it would match
#: every other date in the databases.
NOT_COLLECTED = frozenset({"birth_date"})
#: Shorter values are not collected: they would match unrelated text.
MIN_CHARS: dict[str, int] = {"name": 2, "mobile": 7, "bank_card": 12}
DEFAULT_MIN_CHARS = 4

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
_MARK = "#### creditgate-plaintext-scan test: "
_OUTPUT_KEY = "creditgate_plaintext_scan"
_CONTROL = b'"action":'  # in every canonical audit entry body
_KEY_BYTES = 48  # the search automaton keys on this many leading bytes; matches are verified in full


def short_hash(value: str) -> str:
    """What a report shows instead of the value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def accept(kind: str, value: object) -> str | None:
    """The value to look for, or None when it is not worth collecting."""
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    if kind == "id_number":
        try:
            return parse_resident_id(value).number
        except InvalidIdentifier:
            return None
    return value if len(value) >= MIN_CHARS.get(kind, DEFAULT_MIN_CHARS) else None


def value_forms(value: str, kind: str) -> set[bytes]:
    """The byte strings that would show ``value`` in a database file, a COPY dump or a log line."""
    texts = {value}
    if kind == "id_number":
        texts |= {value.lower(), value.upper()}
    forms: set[bytes] = set()
    for text in texts:
        raw = text.encode("utf-8")
        forms.add(raw)
        forms.add(raw.hex().encode())  # bytea in COPY output; hex dumps
        escaped = json.dumps(text)[1:-1].encode()  # JSON with ensure_ascii (SQLAlchemy's default)
        if escaped != raw:
            forms.add(escaped)
            forms.add(escaped.replace(b"\\", b"\\\\"))  # ... and that text inside COPY's text format
    return forms


class ValueRegistry:
    """The plaintext personal values seen during the session: value -> kind."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()
        # True while a test of ALLOWED_OWNERS runs: what it feeds in is generated, not
        # personal (schemathesis uses the document's own words), and would match by chance.
        self.paused = False

    def add(self, kind: str, value: object) -> None:
        if self.paused:
            return
        accepted = accept(kind, value)
        if accepted is not None:
            with self._lock:
                self._values.setdefault(accepted, kind)

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._values)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind in self.snapshot().values():
            out[kind] = out.get(kind, 0) + 1
        return dict(sorted(out.items()))


def _trie_pattern(words: Iterable[bytes]) -> bytes:
    """A regular expression matching any of ``words``, longest first, shaped as a trie.

    Every alternative starts with a literal byte, so ``re`` skips positions whose
    byte starts no word without entering the pattern.
    """
    root: dict[int, Any] = {}
    for word in words:
        node = root
        for byte in word:
            node = node.setdefault(byte, {})
        node[-1] = {}

    def build(node: dict[int, Any]) -> bytes:
        parts = [re.escape(bytes([b])) + build(node[b]) for b in sorted(k for k in node if k != -1)]
        if not parts:
            return b""
        body = parts[0] if len(parts) == 1 else b"(?:" + b"|".join(parts) + b")"
        return b"(?:" + body + b")?" if -1 in node else body

    top = [re.escape(bytes([b])) + build(root[b]) for b in sorted(root)]
    return b"|".join(top)


class Scanner:
    """Finds any of a set of values, in any of their forms, in a byte string."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._owners: dict[bytes, list[tuple[str, str]]] = {}
        for value, kind in values.items():
            for form in value_forms(value, kind):
                self._owners.setdefault(form, []).append((value, kind))
        self._by_key: dict[bytes, list[bytes]] = {}
        for form in self._owners:
            self._by_key.setdefault(form[:_KEY_BYTES], []).append(form)
        self._key_lengths = sorted({len(k) for k in self._by_key})
        self._pattern = re.compile(_trie_pattern(self._by_key)) if self._by_key else None

    @property
    def value_count(self) -> int:
        return len({v for owners in self._owners.values() for v, _ in owners})

    def hits(self, data: bytes) -> dict[str, str]:
        """Every value found in ``data``: value -> kind."""
        found: dict[str, str] = {}
        if self._pattern is None:
            return found
        pos = 0
        while (m := self._pattern.search(data, pos)) is not None:
            start, matched = m.start(), m.group()
            for length in self._key_lengths:
                if length > len(matched):
                    break
                for form in self._by_key.get(matched[:length], ()):
                    if data.startswith(form, start):
                        for value, kind in self._owners[form]:
                            found.setdefault(value, kind)
            pos = start + 1  # overlapping occurrences of other values are found too
        return found

    def redact(self, text: str) -> str:
        """``text`` (a path, a test id) with any value replaced by its kind and hash, for reports."""
        for value, kind in self.hits(text.encode("utf-8")).items():
            for form in sorted({value, value.lower(), value.upper()}, key=len, reverse=True):
                text = text.replace(form, f"<{kind} {short_hash(value)}>")
        return text


@dataclass(frozen=True, slots=True)
class Finding:
    """One value found in one place. Carries a hash of the value, never the value."""

    kind: str
    digest: str
    target: str
    owner: str

    def render(self) -> str:
        return f"plaintext {self.kind} (sha256 {self.digest}) in {self.target} [test: {self.owner}]"


def scan_bytes(scanner: Scanner, data: bytes, target: str, owner: str) -> list[Finding]:
    """Findings for one blob. Test ids and paths can carry parameters: they are redacted too."""
    found = sorted(scanner.hits(data).items())
    if not found:
        return []
    target, owner = scanner.redact(target), scanner.redact(owner)
    return [Finding(kind, short_hash(value), target, owner) for value, kind in found]


def sqlite_side_files(path: Path) -> list[Path]:
    """A SQLite database file and those of its side files that exist."""
    return [path] + [p for p in (path.with_name(path.name + s) for s in SQLITE_SIDE_SUFFIXES) if p.exists()]


def scan_sqlite_file(scanner: Scanner, path: Path, owner: str = "session") -> list[Finding]:
    """Findings in a SQLite database file and in its ``-wal``, ``-shm`` and ``-journal`` files."""
    out: list[Finding] = []
    for part in sqlite_side_files(path):
        if part.exists():
            out += scan_bytes(scanner, part.read_bytes(), f"SQLite file {part}", owner)
    return out


def split_log(text: str) -> Iterator[tuple[str, str]]:
    """The log output cut at the per-test markers: (owner, text) pairs."""
    owner = "session"
    chunk: list[str] = []
    for line in text.split("\n"):  # not splitlines(): log text may hold other line separators
        if line.startswith(_MARK):
            if chunk:
                yield owner, "\n".join(chunk)
            owner, chunk = line[len(_MARK):].strip() or "session", []
        else:
            chunk.append(line)
    if chunk:
        yield owner, "\n".join(chunk)


def scan_log_text(scanner: Scanner, text: str, target: str = "log output") -> list[Finding]:
    """Findings in log output; lines after a test's marker are attributed to that test."""
    out: list[Finding] = []
    for owner, chunk in split_log(text):
        if not is_allowed(owner):
            out += scan_bytes(scanner, chunk.encode("utf-8", "backslashreplace"), target, owner)
    return out


def allowed_entry(owner: str) -> str | None:
    """The :data:`ALLOWED_OWNERS` entry covering ``owner`` (a test node id), if any."""
    return next((a for a in ALLOWED_OWNERS if owner == a or owner.startswith((a + "::", a + "["))), None)


def is_allowed(owner: str) -> bool:
    """Whether ``owner`` writes plaintext on purpose."""
    return allowed_entry(owner) is not None


def dump_postgres(url: str, dest: Path) -> list[Path]:
    """``COPY`` every table of the database at ``url`` into ``dest/<schema>.<table>``."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    dest.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_catalog.pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            file = dest / f"{schema}.{table}"
            statement = sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(schema, table))
            with conn.cursor() as cur, cur.copy(statement) as copy, file.open("wb") as out:
                for data in copy:
                    out.write(bytes(data))
            files.append(file)
    return files


class LogSink:
    """The session's log output, in one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8", errors="backslashreplace")
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(text)

    def mark(self, owner: str) -> None:
        self.write(f"\n{_MARK}{owner}\n")

    def read(self) -> str:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
        return self.path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        with self._lock:
            self._file.close()


class TeeStream:
    """A text stream that also copies everything written to it into a :class:`LogSink`."""

    def __init__(self, stream: TextIO, sink: LogSink) -> None:
        self._stream = stream
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.write(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class PlaintextScan:
    """Collects values and database copies during the session; scans and reports at its end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.registry = ValueRegistry()
        for kind, value in WELL_KNOWN:
            self.registry.add(kind, value)
        self.local = False  # does this process run tests (and so scan)?
        self.workdir: Path | None = None
        self.sink: LogSink | None = None
        self.tmp_owners: dict[Path, str] = {}
        self.sqlite_owners: dict[Path, str] = {}
        self.pg_dumps: list[tuple[Path, str, str]] = []  # (table copy, "database.table", owner)
        self.pg_databases = 0
        self.pg_copy_seconds = 0.0
        self.errors: list[str] = []
        self.summaries: list[dict[str, Any]] = []
        self._undo: list[Callable[[], None]] = []

    # --- collecting -----------------------------------------------------------------------

    def _patch(self, owner: Any, name: str, replacement: Callable[..., Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, functools.wraps(original)(replacement))
        self._undo.append(lambda: setattr(owner, name, original))

    def _install(self) -> None:
        import service.http.app  # noqa: F401  (so that its binding of configure_logging is patched too)
        import service.observability.logging as obs
        from service.crypto.blind_index import BlindIndex
        from service.crypto.vault import FieldVault
        from service.records.service import RecordService

        registry = self.registry
        encrypt = FieldVault.encrypt

        def sealing(vault: Any, session: Any, subject_id: str, values: Iterable[Any]) -> Any:
            values = list(values)
            for place, value in values:
                kind = COLUMN_KINDS.get(place.column, place.column.removesuffix("_ct"))
                if kind not in NOT_COLLECTED:
                    registry.add(kind, value)
            return encrypt(vault, session, subject_id, values)

        encrypt_text = FieldVault.encrypt_text

        def sealing_text(vault: Any, session: Any, values: Iterable[Any]) -> Any:
            values = list(values)
            for _, value in values:
                registry.add("free_text", value)
            return encrypt_text(vault, session, values)

        compute = BlindIndex.compute

        def indexing(index: Any, normalized: str) -> bytes:
            registry.add("id_number", normalized)  # kept only if it is a valid resident ID number
            return compute(index, normalized)

        register = RecordService.register

        def registering(service: Any, provider_id: str, new: Any, *args: Any, **kwargs: Any) -> Any:
            registry.add("id_number", getattr(new, "id_number", None))
            registry.add("name", getattr(new, "name", None))
            registry.add("facts", getattr(new, "facts", None))
            registry.add("document_number", getattr(getattr(new, "document", None), "number", None))
            return register(service, provider_id, new, *args, **kwargs)

        self._patch(FieldVault, "encrypt", sealing)
        self._patch(FieldVault, "encrypt_text", sealing_text)
        self._patch(BlindIndex, "compute", indexing)
        self._patch(RecordService, "register", registering)

        original = obs.configure_logging
        sink = self.sink
        assert sink is not None

        def configure_logging(level: str = "INFO", stream: TextIO | None = None, *, file: Path | None = None) -> None:
            original(level, TeeStream(stream or (obs.open_log_file(file) if file else sys.stderr), sink))

        configure_logging = functools.wraps(original)(configure_logging)
        for module in [m for name, m in list(sys.modules.items()) if name.split(".")[0] == "service"]:
            if getattr(module, "configure_logging", None) is original:
                module.configure_logging = configure_logging
                self._undo.append(functools.partial(setattr, module, "configure_logging", original))
        # The service's logging, as the app and the CLI set it up, from the first test on.
        configure_logging("INFO")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        controller = self.config.pluginmanager.has_plugin("dsession")
        self.local = not controller and not self.config.option.collectonly
        if not self.local:
            return
        self.workdir = Path(tempfile.mkdtemp(prefix="creditgate-plaintext-scan-"))
        self.sink = LogSink(self.workdir / "log-output.txt")
        self._install()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.registry.paused = allowed_entry(nodeid) is not None
        if self.sink is not None:
            self.sink.mark(nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
        result = yield
        if self.local:
            try:
                self._observe(fixturedef, request, result)
            except Exception as exc:  # the scan must not break a test; it fails the session instead
                self.errors.append(f"observing fixture {fixturedef.argname}: {type(exc).__name__}")
        return result

    def _observe(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, result: Any) -> None:
        owner = request.node.nodeid or "session"
        if fixturedef.argname == "tmp_path" and isinstance(result, Path):
            self.tmp_owners[result.resolve()] = owner
        if not isinstance(result, str):
            return
        if result.startswith("sqlite:///"):
            self.sqlite_owners[Path(result.removeprefix("sqlite:///")).resolve()] = owner
        elif result.startswith("postgresql"):
            from sqlalchemy.engine import make_url

            database = make_url(result).database
            if database and database not in {"postgres", "template0", "template1"}:
                # Runs before the fixture's own teardown (LIFO), i.e. before the DROP DATABASE.
                fixturedef.addfinalizer(functools.partial(self._copy_postgres, result, database, owner))

    def _copy_postgres(self, url: str, database: str, owner: str) -> None:
        assert self.workdir is not None
        self.pg_databases += 1
        started = time.monotonic()
        try:
            files = dump_postgres(url, self.workdir / "pg" / f"{self.pg_databases:05d}-{database}")
        except Exception as exc:
            self.errors.append(f"could not copy PostgreSQL database {database} of {owner}: {type(exc).__name__}")
            return
        finally:
            self.pg_copy_seconds += time.monotonic() - started
        self.pg_dumps += [(f, f"{database}.{f.name}", owner) for f in files]

    # --- scanning -------------------------------------------------------------------------

    def _basetemp(self) -> Path | None:
        factory = getattr(self.config, "_tmp_path_factory", None)
        try:
            return factory.getbasetemp() if factory is not None else None
        except OSError:
            return None

    def sqlite_files(self) -> list[Path]:
        """Every SQLite main file under the base temp directory (and where the suite's URLs pointed)."""
        roots = {p.parent for p in self.sqlite_owners}
        base = self._basetemp()
        if base is not None:
            roots.add(base.resolve())
        mains: set[Path] = set()
        for root in sorted(roots):
            for dirpath, _dirs, names in os.walk(root):
                for name in names:
                    path = Path(dirpath, name).resolve()
                    side = next((s for s in SQLITE_SIDE_SUFFIXES if name.endswith(s)), None)
                    if side is not None:
                        mains.add(path.with_name(name.removesuffix(side)))
                        continue
                    try:
                        with path.open("rb") as f:
                            if f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                                mains.add(path)
                    except OSError:
                        continue
        return sorted(mains)

    def owner_of(self, path: Path) -> str:
        if path in self.sqlite_owners:
            return self.sqlite_owners[path]
        parents = [p for p in self.tmp_owners if path.is_relative_to(p)]
        return self.tmp_owners[max(parents, key=lambda p: len(p.parts))] if parents else "session"

    def scan(self) -> dict[str, Any]:
        started = time.monotonic()
        scanner = Scanner(self.registry.snapshot())
        findings: list[Finding] = []
        skipped: dict[str, int] = {}  # ALLOWED_OWNERS entry -> files, tables and log sections not scanned

        def allowed(owner: str) -> bool:
            entry = allowed_entry(owner)
            if entry is not None:
                skipped[entry] = skipped.get(entry, 0) + 1
            return entry is not None

        # A control: audit entry bodies are stored in clear by design, so a scan that reads the
        # stored bytes sees them. Counted (not enforced) to show the scan is not looking at nothing.
        control: set[str] = set()
        files = self.sqlite_files()
        for path in files:
            owner = self.owner_of(path)
            if not allowed(owner):
                findings += scan_sqlite_file(scanner, path, owner)
                if any(_CONTROL in p.read_bytes() for p in sqlite_side_files(path)):
                    control.add(str(path))
        for file, label, owner in self.pg_dumps:
            if not allowed(owner):
                data = file.read_bytes()
                findings += scan_bytes(scanner, data, f"PostgreSQL table {label}", owner)
                if _CONTROL in data or _CONTROL.hex().encode() in data:
                    control.add(label.split(".")[0])
        log_text = self.sink.read() if self.sink is not None else ""
        findings += scan_log_text(scanner, log_text)
        log_bytes = 0
        for owner, chunk in split_log(log_text):
            log_bytes += len(chunk.strip().encode("utf-8"))
            if chunk.strip():
                allowed(owner)
        return {
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "values": self.registry.counts(),
            "value_count": scanner.value_count,
            "sqlite_files": len(files),
            "pg_databases": self.pg_databases,
            "pg_tables": len(self.pg_dumps),
            "pg_copy_seconds": round(self.pg_copy_seconds, 2),
            "control_seen": len(control),
            "log_bytes": log_bytes,  # without the per-test markers
            "skipped": skipped,
            "findings": [asdict(f) for f in dict.fromkeys(findings)],
            "errors": [scanner.redact(e) for e in self.errors],
            "seconds": round(time.monotonic() - started, 2),
        }

    # --- reporting ------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        summary = getattr(node, "workeroutput", {}).get(_OUTPUT_KEY)
        if summary is not None:
            self.summaries.append(summary)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.local:
            summary = self.scan()
            workeroutput = getattr(self.config, "workeroutput", None)
            if workeroutput is not None:
                workeroutput[_OUTPUT_KEY] = summary
            self.summaries.append(summary)
        if any(s["findings"] or s["errors"] for s in self.summaries) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.summaries or hasattr(self.config, "workerinput"):
            return
        bad = any(s["findings"] or s["errors"] for s in self.summaries)
        terminalreporter.write_sep("=", "plaintext personal data scan", red=bad, green=not bad)
        for s in sorted(self.summaries, key=lambda s: s["worker"]):
            kinds = ", ".join(f"{k} {n}" for k, n in s["values"].items())
            terminalreporter.write_line(
                f"{s['worker']}: {s['value_count']} values ({kinds}); {s['sqlite_files']} SQLite files, "
                f"{s['pg_databases']} PostgreSQL databases ({s['pg_tables']} tables, copied in "
                f"{s['pg_copy_seconds']} s), {s['log_bytes']} bytes of log output; "
                f"{len(s['findings'])} findings; scanned in {s['seconds']} s"
            )
            terminalreporter.write_line(
                f"  control: clear-text audit entries ({_CONTROL.decode()}) seen in {s['control_seen']} databases"
            )
            if s["skipped"]:
                skipped = ", ".join(f"{entry} ({n})" for entry, n in sorted(s["skipped"].items()))
                terminalreporter.write_line(f"  not scanned (ALLOWED_OWNERS): {skipped}")
            for f in s["findings"]:
                terminalreporter.write_line("  FOUND " + Finding(**f).render(), red=True)
            for e in s["errors"]:
                terminalreporter.write_line("  ERROR " + e, red=True)
        # Counted in the final "N passed, ..." line too, so that a green-looking line cannot hide a leak.
        problems = [x for s in self.summaries for x in s["findings"] + s["errors"]]
        if problems:
            # Other plugins walk every stats entry as a report object: give them objects.
            entries = [SimpleNamespace(plaintext_scan=x) for x in problems]
            terminalreporter.stats.setdefault("plaintext findings", []).extend(entries)

    def pytest_unconfigure(self) -> None:
        while self._undo:
            self._undo.pop()()
        if self.sink is not None:
            self.sink.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("creditgate-plaintext-scan"):
        config.pluginmanager.register(PlaintextScan(config), "creditgate-plaintext-scan")
