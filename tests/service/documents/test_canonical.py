"""The canonical JSON that signatures and response digests cover."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.documents.signing import canonical_json, sha256_hex

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


def _reference(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=3000, deadline=None)
@given(JSON_VALUES)
def test_canonical_json_is_sorted_compact_utf8_json(value: Any) -> None:
    # Anyone can recompute a digest with the standard library's json module.
    assert canonical_json(value) == _reference(value)


def test_canonical_json_of_a_report_shape() -> None:
    report = {"subject": {"name": "张*丰", "id_number": "110***********002X"}, "b": [1, None, True],
              "a": "控制\n字符\t\u0001\u007f\u2028"}
    assert canonical_json(report) == _reference(report)
    assert sha256_hex(report) == sha256_hex(json.loads(canonical_json(report)))
