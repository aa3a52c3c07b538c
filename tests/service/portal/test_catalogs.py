"""The portal's texts: every one is in the Chinese catalog, the compiled catalog is the
current one, every code the API can answer has words, and the package ships every
template, asset and catalog."""

from __future__ import annotations

import fnmatch
import inspect
import re
import tomllib
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from policies import ConsentState, load_categories
from policies.access import Reason
from policies.catalog import DOCUMENT_TYPES, NATURES
from policies.consent import grant_terms
from policies.purposes import INSTITUTION_TYPES
from policies.records import RecordState
from service.portal import words
from service.portal.i18n import LOCALES, ZH, translations
from service.portal.rendering import TEMPLATES, make_environment
from service.query.service import _USE_REFUSALS
from service.records.service import LENIENCY_FLAGS

PORTAL = Path(words.__file__).parent
ROOT = PORTAL.parent.parent
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> set[str | tuple[str, str]]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                     "lstrip_blocks": "true"}}
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(str(PORTAL), method_map, options):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def _po() -> dict[str | tuple[str, str], str]:
    with (LOCALES / ZH.catalog / "LC_MESSAGES" / "portal.po").open("rb") as fh:
        catalog = read_po(fh)
    out: dict[str | tuple[str, str], str] = {}
    for msg in catalog:
        if not msg.id or msg.fuzzy:
            continue
        key = msg.id if isinstance(msg.id, str) else (msg.id[0], msg.id[1])
        out[key] = msg.string if isinstance(msg.string, str) else msg.string[0]
    return out


def test_every_text_is_translated_into_chinese() -> None:
    extracted, catalog = _extracted(), _po()
    assert len(extracted) > 150
    missing = sorted(str(m) for m in extracted if not catalog.get(m))
    assert missing == [], "run scripts/messages.sh and translate"
    for msgid, text in catalog.items():
        source = msgid if isinstance(msgid, str) else msgid[0]
        assert set(_PLACEHOLDER.findall(source)) == set(_PLACEHOLDER.findall(text)), msgid
        assert re.search(r"[\u4e00-\u9fff]", text), f"not Chinese: {msgid!r}"


def test_the_compiled_catalog_is_the_current_one() -> None:
    with (LOCALES / ZH.catalog / "LC_MESSAGES" / "portal.mo").open("rb") as fh:
        compiled = {m.id if isinstance(m.id, str) else (m.id[0], m.id[1]): m.string if isinstance(m.string, str)
                    else m.string[0] for m in read_mo(fh) if m.id}
    assert compiled == _po()
    assert translations(ZH).gettext("Sign in") == "登录"


def test_every_code_has_words() -> None:
    assert set(words.INSTITUTION_TYPES) == set(INSTITUTION_TYPES)
    assert set(words.CATEGORY_CONTENTS) == set(load_categories())
    assert set(words.CONSENT_STATES) == {s.value for s in ConsentState}
    assert set(words.RECORD_STATES) == {s.value for s in RecordState}
    assert set(words.RECORD_NATURES) == set(NATURES)
    assert set(words.DOCUMENT_TYPES) == set(DOCUMENT_TYPES)
    assert set(words.LENIENCY) == set(LENIENCY_FLAGS)
    assert {r.value for r in Reason} - {Reason.AGE_CHECK.value} <= set(words.REASONS)
    assert set(_USE_REFUSALS.values()) <= set(words.REASONS)
    # Every action recorded with a subject on it, i.e. every line an access log can hold.
    sources = "".join(p.read_text("utf-8") for p in (ROOT / "service").rglob("*.py"))
    subject_actions = {"query", "report.self", "access_log.read", "record.register", "subject.register",
                       "consent.request", "consent.grant", "consent.reject", "consent.revoke", "consent.expire",
                       "consent.exhaust", "consent_request.expire", "admin.account.register",
                       "admin.guardianship.register", "admin.guardianship.end"}
    assert subject_actions <= set(words.ACTIONS)
    for action in subject_actions - {"consent.expire", "consent.exhaust"}:
        assert f'"{action}"' in sources, action
    # Every refusal a person's grant, rejection or revocation can meet: the grant rules and
    # the consent service's own conflicts.
    rule_codes = set(re.findall(r'ConsentRuleError\(\s*"([a-z_]+)"', inspect.getsource(grant_terms)))
    service_codes = set(re.findall(r'Consent(?:Conflict|Forbidden)\(\s*"([a-z_]+)"',
                                   (ROOT / "service" / "consent" / "service.py").read_text()))
    assert len(rule_codes) >= 5 and len(service_codes) >= 4
    assert rule_codes | service_codes <= set(words.PROBLEMS)


def test_every_template_compiles() -> None:
    env = make_environment()
    names = [p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")]
    assert len(names) >= 10
    for name in names:
        env.get_template(name)


def test_the_package_ships_every_template_asset_and_catalog() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["service.portal"]
    files = [p.relative_to(PORTAL).as_posix() for p in PORTAL.rglob("*")
             if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert files
    unshipped = [f for f in files if not any(fnmatch.fnmatchcase(f, pat) for pat in patterns)]
    assert unshipped == []
