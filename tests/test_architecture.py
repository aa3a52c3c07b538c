"""Structural rules: dependency direction, and decryption reachable only through the gate."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names)
    return used


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_policies_and_audit_never_import_service() -> None:
    for package, forbidden in (("policies", ("service", "audit")), ("audit", ("service", "policies"))):
        for path in _modules(package):
            bad = {m for m in _imports(path) if m.split(".")[0] in forbidden}
            assert not bad, f"{_rel(path)} imports {bad}"


def test_policies_is_pure() -> None:
    io_modules = {"sqlalchemy", "sqlmodel", "litestar", "httpx", "socket", "requests", "subprocess",
                  "structlog", "logging", "os", "cryptography", "granian"}
    for path in _modules("policies"):
        bad = {m for m in _imports(path) if m.split(".")[0] in io_modules}
        assert not bad, f"{_rel(path)} imports {bad}"


def test_only_the_vault_and_rotation_open_envelopes() -> None:
    allowed = {"service/crypto/envelope.py", "service/crypto/vault.py", "service/crypto/rotation.py"}
    offenders = [
        _rel(p) for p in _modules("service") if "open_envelope" in _names_used(p) and _rel(p) not in allowed
    ]
    assert offenders == []


def test_only_the_gate_mints_grants_and_calls_decrypt() -> None:
    offenders = []
    for path in _modules("service"):
        rel = _rel(path)
        used = _names_used(path)
        if rel.startswith("service/gate/"):
            continue
        mints = {"issue", "_SEAL"} & used and "service.gate.grant" in "".join(_imports(path))
        if mints:
            offenders.append(rel)
        # The vault defines decrypt; the envelope calls the AES-GCM primitive of that name, and
        # so do portal sessions, which seal a session's own token under a key only its cookie
        # yields (no personal data).
        if "decrypt" in used and rel not in {"service/crypto/vault.py", "service/crypto/envelope.py",
                                             "service/portal/sessions.py"}:
            offenders.append(rel)
    assert offenders == []


def test_the_architecture_check_would_catch_a_violation(tmp_path: Path) -> None:
    # The scanners above must see an offending module; prove they would.
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from service.gate.grant import issue\nfrom x import y\ny.decrypt(issue(d))\n")
    assert {"issue", "decrypt"} <= _names_used(sneaky)
    assert "service.gate.grant" in _imports(sneaky)
