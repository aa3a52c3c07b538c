import ast
import sys
from pathlib import Path

import policies

PACKAGE_DIR = Path(policies.__file__).parent
SOURCES = sorted(PACKAGE_DIR.glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_sources_found() -> None:
    assert {p.name for p in SOURCES} >= {
        "__init__.py",
        "access.py",
        "errors.py",
        "identifiers.py",
        "masking.py",
        "purposes.py",
    }
    assert (PACKAGE_DIR / "py.typed").is_file()


def test_policies_imports_only_stdlib_and_itself() -> None:
    for path in SOURCES:
        for name in imported_modules(path):
            top = name.split(".")[0]
            # chinese_calendar is pure data (the official holiday schedule), no I/O.
            allowed = {"policies", "__future__", "chinese_calendar"}
            assert top in sys.stdlib_module_names or top in allowed, f"{path.name} imports {name}"
            assert top not in {"service", "audit"}


def test_no_io_modules_imported() -> None:
    forbidden = {"os", "socket", "sqlite3", "subprocess", "urllib", "http", "pathlib", "io"}
    for path in SOURCES:
        tops = {name.split(".")[0] for name in imported_modules(path)}
        assert not tops & forbidden, path.name


def test_public_api_exported() -> None:
    for name in policies.__all__:
        assert hasattr(policies, name), name
    assert {"decide", "Decision", "Reason", "PolicyDataError", "MaskingPolicy"} <= set(policies.__all__)
