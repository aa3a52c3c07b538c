"""Loading and typed access helpers for the packaged TOML policy data.

Private to the package: every loader goes through these helpers so that all
data errors carry the same ``file: key: problem`` shape.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from policies.errors import PolicyDataError

DATA_PACKAGE = "policies"
DATA_DIR = "data"


def read_data_file(name: str) -> dict[str, Any]:
    """Read and parse ``policies/data/<name>``; report any failure as PolicyDataError."""
    source = f"{DATA_DIR}/{name}"
    try:
        text = resources.files(DATA_PACKAGE).joinpath(DATA_DIR, name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyDataError(source, "<file>", f"cannot be read ({type(exc).__name__})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyDataError(source, "<file>", f"is not valid TOML ({exc})") from exc


def require_version(data: Mapping[str, Any], source: str) -> int:
    """Return the file's positive integer ``version``."""
    return require_int(data, "version", source, "version", minimum=1)


def require_table(data: Mapping[str, Any], key: str, source: str, path: str) -> Mapping[str, Any]:
    """Return ``data[key]`` which must be a TOML table."""
    if key not in data:
        raise PolicyDataError(source, path, "missing")
    value: object = data[key]
    if not isinstance(value, Mapping):
        raise PolicyDataError(source, path, f"must be a table, got {type(value).__name__}")
    return value


def require_int(data: Mapping[str, Any], key: str, source: str, path: str, *, minimum: int) -> int:
    """Return ``data[key]`` which must be an integer no smaller than ``minimum``."""
    if key not in data:
        raise PolicyDataError(source, path, "missing")
    value: object = data[key]
    # bool is an int subclass; `true` in a policy file is always a typo.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyDataError(source, path, f"must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise PolicyDataError(source, path, f"must be >= {minimum}, got {value}")
    return value


def require_number(data: Mapping[str, Any], key: str, source: str, path: str, *, minimum: float) -> float:
    """Return ``data[key]`` which must be a number (integer or float) no smaller than ``minimum``."""
    if key not in data:
        raise PolicyDataError(source, path, "missing")
    value: object = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyDataError(source, path, f"must be a number, got {type(value).__name__}")
    if not value >= minimum:  # also refuses nan
        raise PolicyDataError(source, path, f"must be >= {minimum}, got {value}")
    return float(value)


def require_str(data: Mapping[str, Any], key: str, source: str, path: str) -> str:
    """Return ``data[key]`` which must be a non-blank string."""
    if key not in data:
        raise PolicyDataError(source, path, "missing")
    value: object = data[key]
    if not isinstance(value, str):
        raise PolicyDataError(source, path, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise PolicyDataError(source, path, "must not be empty")
    return value


def require_str_list(
    data: Mapping[str, Any], key: str, source: str, path: str, *, allowed: Iterable[str] | None = None
) -> tuple[str, ...]:
    """Return ``data[key]``: a non-empty array of distinct, non-blank strings, in file
    order, each drawn from ``allowed`` when it is given."""
    if key not in data:
        raise PolicyDataError(source, path, "missing")
    value: object = data[key]
    if not isinstance(value, list):
        raise PolicyDataError(source, path, f"must be an array, got {type(value).__name__}")
    if not value:
        raise PolicyDataError(source, path, "must not be empty")
    allowed_set = frozenset(allowed) if allowed is not None else None
    items: list[str] = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(item, str):
            raise PolicyDataError(source, where, f"must be a string, got {type(item).__name__}")
        if allowed_set is not None and item not in allowed_set:
            raise PolicyDataError(source, where, f"unknown value {item!r}; expected one of {sorted(allowed_set)}")
        if not item.strip():
            raise PolicyDataError(source, where, "must not be empty")
        if item in items:
            raise PolicyDataError(source, where, f"duplicate value {item!r}")
        items.append(item)
    return tuple(items)


def require_str_set(
    data: Mapping[str, Any], key: str, source: str, path: str, *, allowed: Iterable[str]
) -> frozenset[str]:
    """Return ``data[key]`` as a non-empty set of strings drawn from ``allowed``."""
    return frozenset(require_str_list(data, key, source, path, allowed=allowed))


def reject_unknown_keys(data: Mapping[str, Any], known: Iterable[str], source: str, path: str) -> None:
    """Fail on keys the schema does not know, so a misspelt key is not silently ignored."""
    known_set = frozenset(known)
    for key in data:
        if key not in known_set:
            where = f"{path}.{key}" if path else key
            raise PolicyDataError(source, where, f"unknown key; expected one of {sorted(known_set)}")
