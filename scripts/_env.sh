# Shared by run.sh and test.sh: create .venv and install the project into it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON_BIN="${PYTHON:-}"
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON_BIN="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON_BIN" ] || { echo "creditgate needs Python 3.11 or newer" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$PYTHON_BIN" -m venv .venv
fi
install_project() {
  # The install is editable, so only a change of dependencies (pyproject.toml) or of
  # the extras asked for needs pip again. Skipping it keeps a second run from
  # rewriting a venv that a running server is using.
  local stamp=".venv/.creditgate-install"
  local want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) extras=[$1]"
  if [ -f "$stamp" ] && grep -qxF "$want" "$stamp" && [ -x .venv/bin/creditgate ]; then
    return 0
  fi
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".$1"
  # A [test] install also satisfies a plain one.
  if [ -n "$1" ]; then printf '%s\n%s\n' "$want" "$(sha256sum pyproject.toml | cut -d' ' -f1) extras=[]" > "$stamp"
  else printf '%s\n' "$want" > "$stamp"; fi
}
