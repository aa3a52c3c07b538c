"""The notice a person reads before granting consent (PIPL arts. 17 and 23).

Before personal information is provided to another processor the person must
be told the recipient's name and contact details, the purpose, the processing
method and the categories of information (art. 23), and also how long it is
kept and how to exercise their rights, withdrawal included (art. 17). The
fixed sentences are policy data (``data/notice.toml``); :func:`consent_notice`
fills in one request. The text returned is exactly what is shown; its SHA-256
is the ``terms_sha256`` of the consent receipt, so the receipt proves what the
person read.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policies._data import read_data_file, reject_unknown_keys, require_str, require_version

__all__ = ["NoticeTexts", "consent_notice", "load_notice_texts", "notice_sha256", "parse_notice_texts"]

NOTICE_FILE = "notice.toml"
_KEYS = ("title", "processing_method", "categories_note", "retention", "withdrawal", "objection",
         "separate_consent", "contact_missing")


@dataclass(frozen=True, slots=True)
class NoticeTexts:
    """The fixed sentences of the notice."""

    title: str
    processing_method: str
    categories_note: str
    retention: str
    withdrawal: str
    objection: str
    separate_consent: str
    contact_missing: str


def parse_notice_texts(data: Mapping[str, Any], source: str) -> NoticeTexts:
    """Validate parsed notice TOML; raise PolicyDataError naming the key."""
    require_version(data, source)
    reject_unknown_keys(data, {"version", *_KEYS}, source, "")
    return NoticeTexts(**{key: require_str(data, key, source, key).strip() for key in _KEYS})


@functools.cache
def load_notice_texts() -> NoticeTexts:
    """Load and validate the packaged notice texts (once per process)."""
    return parse_notice_texts(read_data_file(NOTICE_FILE), f"data/{NOTICE_FILE}")


def consent_notice(
    *,
    institution_name: str,
    institution_uscc: str,
    institution_contact: str | None,
    purpose_code: str,
    purpose_name: str,
    reason: str,
    categories: Sequence[tuple[str, str]],
    validity: str,
    max_queries: int,
    texts: NoticeTexts | None = None,
) -> str:
    """The notice for one consent request, line by line, exactly as it is shown.

    ``categories`` are (code, Chinese name) pairs; ``validity`` says how long the
    consent would last. Every value is put in as given: callers pass text that was
    cleaned when it was stored.
    """
    t = texts or load_notice_texts()
    kinds = "、".join(f"{name}（{code}）" for code, name in categories)
    lines = [
        t.title,
        f"接收方：{institution_name}（统一社会信用代码 {institution_uscc}）",
        f"接收方联系方式：{institution_contact or t.contact_missing}",
        f"处理目的：{purpose_name}（{purpose_code}）；机构说明：{reason}",
        f"处理方式：{t.processing_method}",
        f"个人信息种类：{kinds}。{t.categories_note}",
        f"授权期限：{validity}；查询次数上限：{max_queries}次",
        f"保存期限：{t.retention}",
        f"撤回：{t.withdrawal}",
        f"异议：{t.objection}",
        t.separate_consent,
    ]
    return "\n".join(lines)


def notice_sha256(text: str) -> str:
    """SHA-256 (hex) of the notice exactly as shown, UTF-8 encoded."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
