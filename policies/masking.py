"""Desensitization (脱敏) of personal fields according to the viewer's role.

The rules are policy data (``policies/data/masking.toml``); this module only
knows the rule kinds and how to apply them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from policies._data import (
    read_data_file,
    reject_unknown_keys,
    require_int,
    require_str,
    require_table,
    require_version,
)
from policies.errors import PolicyDataError

__all__ = [
    "CONTACT_FIELDS",
    "MASK_CHAR",
    "FieldKind",
    "MaskRule",
    "MaskingPolicy",
    "Role",
    "RuleKind",
    "load_masking_policy",
    "parse_masking_policy",
]

MASK_CHAR = "*"
MASKING_FILE = "masking.toml"


class FieldKind(StrEnum):
    """Personal fields that are stored encrypted and masked on output."""

    ID_NUMBER = "id_number"
    NAME = "name"
    MOBILE = "mobile"
    BANK_CARD = "bank_card"
    ADDRESS = "address"
    #: Kept apart from the ID number so that age rules need not open the number; hidden
    #: from every viewer (``data/masking.toml``), opened only by an age check.
    BIRTH_DATE = "birth_date"


class Role(StrEnum):
    """Viewer roles, which select the masking rule."""

    SUBJECT = "subject"
    GUARDIAN = "guardian"
    INSTITUTION = "institution"
    PUBLIC = "public"
    AUDITOR = "auditor"
    PROVIDER = "provider"
    OPERATOR = "operator"


#: Contact fields are not catalog information (公共信用信息目录): whatever a consent names,
#: an institution never sees them, and neither does the public.
CONTACT_FIELDS = frozenset({FieldKind.MOBILE, FieldKind.BANK_CARD, FieldKind.ADDRESS})
_NEVER_SEE_CONTACT = frozenset({Role.INSTITUTION, Role.PUBLIC})


class RuleKind(StrEnum):
    """How a rule transforms a value."""

    FULL = "full"
    KEEP = "keep"
    NAME_ENDS = "name_ends"
    SURNAME = "surname"
    HIDDEN = "hidden"


@dataclass(frozen=True, slots=True)
class MaskRule:
    """One masking rule; ``keep_first``/``keep_last`` matter only for ``keep``."""

    kind: RuleKind
    keep_first: int = 0
    keep_last: int = 0

    def apply(self, value: str) -> str | None:
        """Mask ``value``; None means the field is not shown."""
        if self.kind is RuleKind.HIDDEN:
            return None
        if self.kind is RuleKind.FULL:
            return value
        if self.kind is RuleKind.KEEP:
            return _keep(value, self.keep_first, self.keep_last)
        if self.kind is RuleKind.NAME_ENDS:
            # The short-value rule in _keep turns a two-character name into
            # its first character plus '*' ("张三" -> "张*").
            return _keep(value, 1, 1)
        return _keep(value, 1, 0)


def _keep(value: str, first: int, last: int) -> str:
    length = len(value)
    if length == 0:
        return value
    if first + last >= length:
        # The rule is meant to hide something; a value too short to keep both
        # ends must still lose at least its last character, so keep a prefix
        # only (the prefix is the less identifying end for IDs, cards, phones).
        first = min(first, length - 1)
        last = 0
    return value[:first] + MASK_CHAR * (length - first - last) + value[length - last :]


@dataclass(frozen=True)
class MaskingPolicy:
    """A complete, validated table of masking rules for every field × role."""

    version: int
    rules: Mapping[tuple[FieldKind, Role], MaskRule]
    _visible: Mapping[Role, frozenset[FieldKind]] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Asked on every access decision; the table never changes once loaded.
        visible = {
            role: frozenset(f for f in FieldKind if self.rules[(f, role)].kind is not RuleKind.HIDDEN)
            for role in {r for _, r in self.rules}
        }
        object.__setattr__(self, "_visible", visible)

    def visible_fields(self, role: Role) -> frozenset[FieldKind]:
        """The fields of which ``role`` may see some part."""
        return self._visible[role]

    def rule(self, field: FieldKind, role: Role) -> MaskRule:
        """Return the rule for a field and role."""
        return self.rules[(field, role)]

    def mask(self, field: FieldKind, role: Role, value: str | None) -> str | None:
        """Return ``value`` masked for ``role``; None if hidden or if ``value`` is None."""
        if value is None:
            return None
        return self.rule(field, role).apply(value)

    def visible(self, field: FieldKind, role: Role) -> bool:
        """Whether ``role`` may see any part of ``field``."""
        return field in self._visible[role]


_RULE_KEYS = {
    RuleKind.FULL: frozenset({"kind"}),
    RuleKind.NAME_ENDS: frozenset({"kind"}),
    RuleKind.SURNAME: frozenset({"kind"}),
    RuleKind.HIDDEN: frozenset({"kind"}),
    RuleKind.KEEP: frozenset({"kind", "keep_first", "keep_last"}),
}


def _parse_rule(data: Mapping[str, Any], source: str, path: str) -> MaskRule:
    raw_kind = require_str(data, "kind", source, f"{path}.kind")
    try:
        kind = RuleKind(raw_kind)
    except ValueError:
        raise PolicyDataError(
            source,
            f"{path}.kind",
            f"unknown rule kind {raw_kind!r}; expected one of {[k.value for k in RuleKind]}",
        ) from None
    reject_unknown_keys(data, _RULE_KEYS[kind], source, path)
    if kind is not RuleKind.KEEP:
        return MaskRule(kind)
    keep_first = require_int(data, "keep_first", source, f"{path}.keep_first", minimum=0)
    keep_last = require_int(data, "keep_last", source, f"{path}.keep_last", minimum=0)
    return MaskRule(kind, keep_first, keep_last)


def parse_masking_policy(data: Mapping[str, Any], source: str) -> MaskingPolicy:
    """Validate parsed TOML and build a MaskingPolicy.

    Every field × role pair must be present, rule kinds must be known and keep
    counts must be non-negative integers; unknown keys are rejected. Raises
    PolicyDataError naming ``source`` and the offending key.
    """
    version = require_version(data, source)
    reject_unknown_keys(data, {"version", "fields"}, source, "")
    fields = require_table(data, "fields", source, "fields")
    reject_unknown_keys(fields, [f.value for f in FieldKind], source, "fields")
    rules: dict[tuple[FieldKind, Role], MaskRule] = {}
    for field in FieldKind:
        field_path = f"fields.{field.value}"
        by_role = require_table(fields, field.value, source, field_path)
        reject_unknown_keys(by_role, [r.value for r in Role], source, field_path)
        for role in Role:
            role_path = f"{field_path}.{role.value}"
            rule_data = require_table(by_role, role.value, source, role_path)
            rules[(field, role)] = _parse_rule(rule_data, source, role_path)
            shown = rules[(field, role)].kind is not RuleKind.HIDDEN
            if shown and field in CONTACT_FIELDS and role in _NEVER_SEE_CONTACT:
                raise PolicyDataError(source, f"{role_path}.kind",
                                      "contact fields are not catalog information and must stay hidden")
    return MaskingPolicy(version=version, rules=MappingProxyType(rules))


@functools.cache
def load_masking_policy() -> MaskingPolicy:
    """Load and validate the packaged masking policy (once per process)."""
    return parse_masking_policy(read_data_file(MASKING_FILE), f"data/{MASKING_FILE}")
