#!/usr/bin/env bash
# Fuzzes the HTTP API against its OpenAPI document with schemathesis: starts
# `meridian serve` on loopback with a fresh SQLite database (no development
# tokens), makes an admin and a user, and runs schemathesis three times: with no
# token, with the user's and with the admin's, so every route is tried by every
# role. Fails on any 5xx or any response that breaks the document (status code,
# content type, headers, body schema).
#
# Usage: scripts/api-fuzz.sh PATH/TO/meridian [examples per operation per role]
#   API_FUZZ_SEED=N  replays a run (each run prints its seed; random otherwise)
#   API_FUZZ_ROLES   the roles to run, default "none user admin"
set -euo pipefail
binary="$1"
examples="${2:-200}"
seed="${API_FUZZ_SEED:-$(( (RANDOM << 15) | RANDOM ))}"
roles="${API_FUZZ_ROLES:-none user admin}"
work="$(mktemp -d)"
database="sqlite://$work/fuzz.db"
log="$work/serve.log"
echo "API fuzz seed: $seed (replay with API_FUZZ_SEED=$seed)"

# Login limits raised so the fuzz reaches the handlers rather than stopping at
# 429 (the limits have tests of their own); tokens that outlive the run.
cat >"$work/meridian.toml" <<'TOML'
[serve]
access_token_seconds = 7200
login_attempts_per_address_per_minute = 1000000
login_attempts_per_account_per_minute = 1000000
TOML

printf 'fuzz admin password\n' | timeout 60 "$binary" create-admin --username fuzzadmin --database-url "$database"
"$binary" serve --config "$work/meridian.toml" --game-address 127.0.0.1:0 \
  --http-address 127.0.0.1:0 --database-url "$database" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

base=""
for _ in $(seq 1 600); do
  base="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)"
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[ -n "$base" ] || { echo "the server did not start within 60 s:"; cat "$log"; exit 1; }

# POST a JSON body to the API; prints the answer, fails on an HTTP error.
post() {
  curl -sS --fail-with-body --max-time 30 -X POST "$base$1" \
    -H 'content-type: application/json' -d "$2"
}
token_of() {
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
post /api/v1/signup '{"username":"fuzzuser","password":"fuzz user password"}' >/dev/null
user_token="$(post /api/v1/login '{"username":"fuzzuser","password":"fuzz user password"}' | token_of)"
admin_token="$(post /api/v1/login '{"username":"fuzzadmin","password":"fuzz admin password"}' | token_of)"

# No automatic sign-up (the role "none" must stay anonymous). Run from the
# scratch folder, so that schemathesis's and hypothesis's caches (which replay
# old failures first) stay out of the clone.
cat >"$work/schemathesis.toml" <<'TOML'
[auth]
auto-signup = false
TOML
cd "$work"

# The console script sits beside the interpreter pip installed it for.
runner="$(python3 -c 'import os, sys; print(os.path.join(os.path.dirname(sys.executable), "schemathesis"))')"
[ -x "$runner" ] || runner="schemathesis"

failed=()
for role in $roles; do
  case "$role" in
    none) auth=() ;;
    user) auth=(--header "Authorization: Bearer $user_token") ;;
    # An admin's POST /api/v1/admin/drain would drain the server and end
    # the run: that route is tried as the other roles (401, 403) only; the
    # rolling-restart test drains through it.
    admin) auth=(--header "Authorization: Bearer $admin_token" --exclude-path /api/v1/admin/drain) ;;
    *) echo "unknown role $role (none, user, admin)"; exit 2 ;;
  esac
  echo "== API fuzz as $role: $examples examples per operation, seed $seed"
  begun=$SECONDS
  if ! "$runner" --config-file "$work/schemathesis.toml" run "$base/api/v1/openapi.json" "${auth[@]}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$examples" \
    --seed "$seed"; then
    failed+=("$role")
  fi
  echo "== API fuzz as $role took $((SECONDS - begun)) s"
  kill -0 "$server" 2>/dev/null || { echo "the server stopped:"; tail -50 "$log"; exit 1; }
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAIL: the API fuzz found problems as: ${failed[*]} (seed $seed)"
  echo "server log (last 50 lines):"
  tail -50 "$log"
  exit 1
fi
echo "== API fuzz: no server errors, every answer as documented (roles: $roles; seed $seed)"
