"""Query purposes, record categories and consent settings (policy data)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from policies._data import (
    read_data_file,
    reject_unknown_keys,
    require_int,
    require_str,
    require_str_set,
    require_table,
    require_version,
)
from policies.errors import PolicyDataError

__all__ = [
    "INSTITUTION_TYPES",
    "UNKNOWN_PURPOSE",
    "Category",
    "ConsentSettings",
    "Purpose",
    "known_purpose",
    "load_categories",
    "load_consent_settings",
    "load_purposes",
    "parse_categories",
    "parse_consent_settings",
    "parse_purposes",
]

INSTITUTION_TYPES = frozenset(
    {"bank", "consumer_finance", "microloan", "guarantor", "employer", "landlord", "government"}
)

#: What an audit entry records in place of a purpose code the policy does not know:
#: a caller's string never reaches the append-only log.
UNKNOWN_PURPOSE = "(unknown)"

CATEGORIES_FILE = "categories.toml"
PURPOSES_FILE = "purposes.toml"
CONSENT_FILE = "consent.toml"


@dataclass(frozen=True, slots=True)
class Category:
    """A record category: the unit that a consent names."""

    code: str
    name_zh: str
    description: str


@dataclass(frozen=True, slots=True)
class Purpose:
    """A query purpose and the ceilings any consent for it must respect."""

    code: str
    name_zh: str
    max_validity_days: int
    max_queries: int
    institution_types: frozenset[str]
    categories: frozenset[str]


@dataclass(frozen=True, slots=True)
class ConsentSettings:
    """Consent-wide settings."""

    guardianship_age: int
    pending_request_days: int


# Codes travel in URLs, tokens and audit entries, so keep them plain identifiers.
_CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def _codes_table(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    table = require_table(data, key, source, key)
    if not table:
        raise PolicyDataError(source, key, "must define at least one entry")
    for code in table:
        if _CODE_PATTERN.fullmatch(code) is None:
            raise PolicyDataError(source, f"{key}.{code}", "code must be lowercase letters, digits and '_'")
    return table


def parse_categories(data: Mapping[str, Any], source: str) -> Mapping[str, Category]:
    """Validate parsed categories TOML; raise PolicyDataError naming the key."""
    require_version(data, source)
    reject_unknown_keys(data, {"version", "categories"}, source, "")
    table = _codes_table(data, "categories", source)
    categories: dict[str, Category] = {}
    for code in table:
        path = f"categories.{code}"
        entry = require_table(table, code, source, path)
        reject_unknown_keys(entry, {"name_zh", "description"}, source, path)
        categories[code] = Category(
            code=code,
            name_zh=require_str(entry, "name_zh", source, f"{path}.name_zh"),
            description=require_str(entry, "description", source, f"{path}.description"),
        )
    return MappingProxyType(categories)


_PURPOSE_KEYS = frozenset({"name_zh", "max_validity_days", "max_queries", "institution_types", "categories"})


def parse_purposes(data: Mapping[str, Any], source: str, categories: Mapping[str, Category]) -> Mapping[str, Purpose]:
    """Validate parsed purposes TOML against the known categories.

    Ceilings must be positive integers, institution types must be in
    INSTITUTION_TYPES and categories must be defined in ``categories``.
    Raises PolicyDataError naming the key.
    """
    require_version(data, source)
    reject_unknown_keys(data, {"version", "purposes"}, source, "")
    table = _codes_table(data, "purposes", source)
    purposes: dict[str, Purpose] = {}
    for code in table:
        path = f"purposes.{code}"
        entry = require_table(table, code, source, path)
        reject_unknown_keys(entry, _PURPOSE_KEYS, source, path)
        purposes[code] = Purpose(
            code=code,
            name_zh=require_str(entry, "name_zh", source, f"{path}.name_zh"),
            max_validity_days=require_int(entry, "max_validity_days", source, f"{path}.max_validity_days", minimum=1),
            max_queries=require_int(entry, "max_queries", source, f"{path}.max_queries", minimum=1),
            institution_types=require_str_set(
                entry,
                "institution_types",
                source,
                f"{path}.institution_types",
                allowed=INSTITUTION_TYPES,
            ),
            categories=require_str_set(entry, "categories", source, f"{path}.categories", allowed=categories.keys()),
        )
    return MappingProxyType(purposes)


def parse_consent_settings(data: Mapping[str, Any], source: str) -> ConsentSettings:
    """Validate parsed consent settings TOML; raise PolicyDataError naming the key."""
    require_version(data, source)
    reject_unknown_keys(data, {"version", "guardianship_age", "pending_request_days"}, source, "")
    return ConsentSettings(
        guardianship_age=require_int(data, "guardianship_age", source, "guardianship_age", minimum=1),
        pending_request_days=require_int(data, "pending_request_days", source, "pending_request_days", minimum=1),
    )


@functools.cache
def load_categories() -> Mapping[str, Category]:
    """Load and validate the packaged record categories (once per process)."""
    return parse_categories(read_data_file(CATEGORIES_FILE), f"data/{CATEGORIES_FILE}")


@functools.cache
def load_purposes() -> Mapping[str, Purpose]:
    """Load and validate the packaged purposes (once per process)."""
    return parse_purposes(read_data_file(PURPOSES_FILE), f"data/{PURPOSES_FILE}", load_categories())


@functools.cache
def load_consent_settings() -> ConsentSettings:
    """Load and validate the packaged consent settings (once per process)."""
    return parse_consent_settings(read_data_file(CONSENT_FILE), f"data/{CONSENT_FILE}")


def known_purpose(code: str | None) -> str | None:
    """``code`` if it names a purpose of the policy data, :data:`UNKNOWN_PURPOSE`
    for any other string, None for None: what an audit entry may record."""
    if code is None:
        return None
    return code if code in load_purposes() else UNKNOWN_PURPOSE
