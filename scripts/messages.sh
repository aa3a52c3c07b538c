#!/usr/bin/env bash
# The portal's message catalogs: extract the texts from the code and templates, bring
# each language's catalog up to date, and compile it. Translate what `update` adds
# (service/portal/locales/<lang>/LC_MESSAGES/portal.po), run this again, commit .po and .mo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/service/portal"
BABEL="$ROOT/.venv/bin/pybabel"
"$BABEL" extract -F babel.cfg --project=creditgate --copyright-holder=creditgate --no-location --sort-output --omit-header -o locales/portal.pot .
for lang in zh_CN; do
  if [ ! -f "locales/$lang/LC_MESSAGES/portal.po" ]; then
    "$BABEL" init -i locales/portal.pot -d locales -D portal -l "$lang"
  fi
  "$BABEL" update -i locales/portal.pot -d locales -D portal -l "$lang" --no-fuzzy-matching \
    --ignore-obsolete
done
"$BABEL" compile -d locales -D portal --statistics
