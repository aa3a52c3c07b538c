#!/usr/bin/env bash
# Set up, then lint, type-check and run the whole test suite against SQLite and a
# throwaway PostgreSQL cluster that this script starts and stops itself.
source "$(dirname "$0")/_env.sh"
install_project "[test]"

# The portal's browser tests drive Debian's Chromium through its chromedriver; a CJK font
# makes their screenshots readable. Install what is missing (CI runs as root on Debian).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the browser tests need: ${missing[*]} (apt-get install as root)" >&2
    exit 1
  fi
fi

PG_BINDIR="${PG_BINDIR:-}"
if [ -z "$PG_BINDIR" ]; then
  PG_BINDIR="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$PG_BINDIR" ] || PG_BINDIR="$(dirname "$(command -v initdb)")"
fi
[ -x "$PG_BINDIR/initdb" ] || { echo "PostgreSQL server binaries (initdb, pg_ctl) not found" >&2; exit 1; }

PGWORK="$(mktemp -d /tmp/creditgate-pg.XXXXXX)"
as_pg() {
  # The server refuses to run as root, so a root caller runs it as the postgres user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres "$PGWORK"
PGPORT="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
stop_pg() {
  as_pg "$PG_BINDIR/pg_ctl" -D "$PGWORK/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGWORK"
}
trap stop_pg EXIT
as_pg "$PG_BINDIR/initdb" -D "$PGWORK/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
as_pg "$PG_BINDIR/pg_ctl" -D "$PGWORK/data" -l "$PGWORK/server.log" -w \
  -o "-p $PGPORT -k $PGWORK -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
echo "PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT"

export CREDITGATE_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
export CREDITGATE_REQUIRE_PG=1

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
