#!/usr/bin/env bash
# The portal's message catalogs: extract the texts from the code and templates, bring
# each language's catalog up to date, and compile it. Translate what `update` adds
# (service/portal/locales/<lang>/LC_MESSAGES/portal.po), run this again, commit .po and .mo.
# English is the source language and needs no catalog.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/service/portal"
BABEL="$ROOT/.venv/bin/pybabel"
fresh="$(mktemp)"
trap 'rm -f "$fresh"' EXIT
"$BABEL" extract -F babel.cfg --project=creditgate --version=1 --copyright-holder=creditgate \
  --no-location --sort-output -o "$fresh" .
# Only a change in the texts touches the catalogs (the template's date alone does not).
if ! diff -q <(grep -v '^"POT-Creation-Date' "$fresh") <(grep -v '^"POT-Creation-Date' locales/portal.pot 2>/dev/null) \
    >/dev/null; then
  cp "$fresh" locales/portal.pot
  for lang in zh_CN; do
    if [ ! -f "locales/$lang/LC_MESSAGES/portal.po" ]; then
      "$BABEL" init -i locales/portal.pot -d locales -D portal -l "$lang"
    fi
    "$BABEL" update -i locales/portal.pot -d locales -D portal -l "$lang" --no-fuzzy-matching --ignore-obsolete
  done
fi
"$BABEL" compile -d locales -D portal --statistics
