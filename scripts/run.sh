#!/usr/bin/env bash
# Set up, migrate, load demo data and serve the API and the portal on http://127.0.0.1:8000 (SQLite).
source "$(dirname "$0")/_env.sh"
install_project ""
export CREDITGATE_DATA_DIR="${CREDITGATE_DATA_DIR:-$ROOT/data}"
.venv/bin/creditgate keys init
.venv/bin/creditgate db upgrade
.venv/bin/creditgate demo
ISSUER="${CREDITGATE_ISSUER:-http://127.0.0.1:${CREDITGATE_PORT:-8000}}"
echo "Portal: ${ISSUER%/}/app  (sign in as demo.subject1 or demo.guardian, password creditgate-demo-password)"
echo "API documentation: ${ISSUER%/}/schema"
exec .venv/bin/creditgate serve "$@"
