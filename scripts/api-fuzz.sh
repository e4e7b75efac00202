#!/usr/bin/env bash
# Fuzzes the HTTP API against its OpenAPI document with schemathesis: starts
# `meridian serve` on loopback with a fresh SQLite database, makes an admin (so
# every route is reachable), and fails on any 5xx or any response that breaks
# the document (status code, content type, headers, body schema).
#
# Usage: scripts/api-fuzz.sh PATH/TO/meridian [max examples per operation]
set -euo pipefail
binary="$1"
examples="${2:-50}"
work="$(mktemp -d)"
database="sqlite://$work/fuzz.db"
log="$work/serve.log"

printf 'fuzz admin password\n' | "$binary" create-admin --username fuzzadmin --database-url "$database"
"$binary" serve --game-address 127.0.0.1:0 --http-address 127.0.0.1:0 --database-url "$database" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

base=""
for _ in $(seq 1 100); do
  base="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)"
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "the server did not start:"; cat "$log"; exit 1; }

token="$(curl -sf -X POST "$base/api/v1/login" -H 'content-type: application/json' \
  -d '{"username":"fuzzadmin","password":"fuzz admin password"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"

# The console script sits beside the interpreter pip installed it for.
runner="$(python3 -c 'import os, sys; print(os.path.join(os.path.dirname(sys.executable), "schemathesis"))')"
[ -x "$runner" ] || runner="schemathesis"
"$runner" run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "$examples" \
  --seed 1
