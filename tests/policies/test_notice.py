"""The notice shown before a grant (PIPL arts. 17 and 23) and its hash."""

from __future__ import annotations

import copy
import hashlib
import tomllib
from importlib import resources
from typing import Any

import pytest

from policies.errors import PolicyDataError
from policies.notice import consent_notice, load_notice_texts, notice_sha256, parse_notice_texts

SOURCE = "data/notice.toml"


def _notice(**changes: Any) -> str:
    args: dict[str, Any] = {
        "institution_name": "示范商业银行", "institution_uscc": "91350100M000100Y43",
        "institution_contact": "客服热线 95500", "purpose_code": "loan_approval", "purpose_name": "贷款审批",
        "reason": "个人住房贷款审批", "categories": [("identity", "基本信息"), ("tax", "税务")],
        "validity": "自授权之日起30日", "max_queries": 3,
    }
    args.update(changes)
    return consent_notice(**args)


def test_the_notice_states_what_articles_17_and_23_require() -> None:
    text = _notice()
    for required in (
        "示范商业银行", "91350100M000100Y43", "客服热线 95500",  # recipient's name and contact details
        "贷款审批", "个人住房贷款审批",  # purpose
        "处理方式",  # processing method
        "基本信息（identity）", "税务（tax）",  # categories
        "保存期限",  # how long it is kept
        "撤回", "revoke", "异议", "objections",  # how to withdraw and object
        "30日", "3次",
        "单独同意",
        "手机号码、银行卡号、住址",  # contact fields are not provided
    ):
        assert required in text, required


def test_a_missing_contact_is_said_so() -> None:
    assert load_notice_texts().contact_missing in _notice(institution_contact=None)


def test_the_hash_is_of_exactly_the_text() -> None:
    text = _notice()
    assert notice_sha256(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert notice_sha256(text) != notice_sha256(_notice(max_queries=2))


def _data() -> dict[str, Any]:
    raw = resources.files("policies").joinpath("data", "notice.toml").read_text(encoding="utf-8")
    return copy.deepcopy(tomllib.loads(raw))


@pytest.mark.parametrize("key", ["title", "retention", "withdrawal", "contact_missing"])
def test_every_sentence_is_required(key: str) -> None:
    data = _data()
    del data[key]
    with pytest.raises(PolicyDataError) as info:
        parse_notice_texts(data, SOURCE)
    assert info.value.key == key
    data[key] = "  "
    with pytest.raises(PolicyDataError):
        parse_notice_texts(data, SOURCE)


def test_unknown_keys_are_refused() -> None:
    data = _data()
    data["fee"] = "100元"
    with pytest.raises(PolicyDataError) as info:
        parse_notice_texts(data, SOURCE)
    assert info.value.key == "fee"
