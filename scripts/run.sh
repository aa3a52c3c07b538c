#!/usr/bin/env bash
# Set up, migrate, load demo data and serve the API on http://127.0.0.1:8000 (SQLite).
source "$(dirname "$0")/_env.sh"
install_project ""
export CREDITGATE_DATA_DIR="${CREDITGATE_DATA_DIR:-$ROOT/data}"
.venv/bin/creditgate keys init
.venv/bin/creditgate db upgrade
.venv/bin/creditgate demo
exec .venv/bin/creditgate serve "$@"
