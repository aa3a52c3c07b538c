"""Display-text rules: what a reader is shown is what is stored, and nothing hides in it."""

from __future__ import annotations

import pytest

from policies.text import TextRefused, clean_text, personal_identifier_in


def _code(value: str, **kw: object) -> str:
    with pytest.raises(TextRefused) as info:
        clean_text(value, max_chars=kw.pop("max_chars", 100), **kw)  # type: ignore[arg-type]
    assert value.strip() not in str(info.value) or not value.strip()
    return info.value.code


def test_accepts_and_normalises_to_nfc() -> None:
    decomposed = "Cafe\u0301  "
    assert clean_text(decomposed, max_chars=10) == "Caf\u00e9"
    assert clean_text("  示范商业银行  ", max_chars=10) == "示范商业银行"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\r"])
def test_control_characters_are_refused(char: str) -> None:
    assert _code(f"a{char}b") == "text_control_character"


def test_line_breaks_only_where_the_field_allows_them() -> None:
    assert _code("first\nsecond") == "text_control_character"
    assert clean_text("first\nsecond\tthird", max_chars=50, multiline=True) == "first\nsecond\tthird"
    assert _code("first\x00second", multiline=True) == "text_control_character"


@pytest.mark.parametrize("code_point", [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
def test_bidirectional_controls_are_refused(code_point: int) -> None:
    assert _code(f"abc{chr(code_point)}def") == "text_bidi_control"


@pytest.mark.parametrize("value", ["", "   ", "\u200b\u200b", " \u200d \ufeff ", "\u3000", "\u2060"])
def test_blank_and_invisible_values_are_refused(value: str) -> None:
    assert _code(value) == "text_blank"


def test_length_counts_characters_after_normalisation() -> None:
    assert clean_text("e\u0301" * 5, max_chars=5) == "\u00e9" * 5
    assert _code("abcdef", max_chars=5) == "text_too_long"


def test_zero_width_inside_visible_text_is_kept() -> None:
    assert clean_text("a\u200db", max_chars=5) == "a\u200db"


@pytest.mark.parametrize(
    "value",
    ["银行11010519491231002X", "联系13800138000", "卡号6222020200112233445", "１１０１０５１９４９１２３１００２Ｘ"],
)
def test_personal_identifiers_are_found(value: str) -> None:
    assert personal_identifier_in(value)


@pytest.mark.parametrize("value", ["示范商业银行股份有限公司", "（2026）京0105执4711号", "2026-12-02", "第12345号"])
def test_ordinary_text_has_no_identifier(value: str) -> None:
    assert not personal_identifier_in(value)
