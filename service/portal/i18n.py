"""Languages of the portal: Chinese first, English on request.

Every text a person reads is in the templates (or marked in :mod:`service.portal.words`)
and translated through gettext catalogs in ``locales/``: ``portal.po`` is edited,
``portal.mo`` is compiled from it and shipped in the package (``scripts/messages.sh``
extracts, updates and compiles). The templates' source strings are English; the
``zh_CN`` catalog translates every one of them, and a test keeps it complete.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "portal"
LANG_COOKIE = "cg_lang"


@dataclass(frozen=True)
class Language:
    """One language the portal speaks."""

    code: str  # what the cookie and the <html lang> hold
    catalog: str  # the gettext catalog's directory name
    label: str  # the language's own name, shown on the switch


ZH = Language("zh-CN", "zh_CN", "中文")
EN = Language("en", "en", "English")
LANGUAGES = {lang.code: lang for lang in (ZH, EN)}
DEFAULT = ZH


def language_of(cookie: str | None) -> Language:
    """The language a request asks for by cookie; Chinese unless English was chosen."""
    return LANGUAGES.get(cookie or "", DEFAULT)


@cache
def translations(lang: Language) -> gettext.NullTranslations:
    """The compiled catalog of ``lang``. English is the source language: it needs no
    catalog (the texts and English plural rules are the msgids')."""
    if lang is EN:
        return gettext.NullTranslations()
    path = LOCALES / lang.catalog / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as fh:
        return gettext.GNUTranslations(fh)


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message
