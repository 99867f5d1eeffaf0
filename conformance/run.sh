#!/usr/bin/env bash
# FHIR conformance suite against a real server (see docs/fhir.md, "Conformance tests"):
#
#   1. starts `renkei demo` on a free port with a fresh data directory;
#   2. signs in as the demo's hospital doctor (bootstrap.py: registers test patients later)
#      and issues a system client for that hospital with `renkei admin create-api-client`;
#   3. gets an access token (client credentials) and runs the pytest suite (fhirpy and
#      fhirclient), which writes every FHIR JSON body it receives to a dump directory;
#   4. validates every dumped resource (and Bundle entry) with Medplum's validateResource
#      (e2e/fhir-validate.mjs, @medplum/core from conformance/package.json).
#
#   RENKEI_BIN=target/debug/renkei conformance/run.sh [pytest args…]
#
# Builds nothing. Needs python3 with conformance/requirements.txt installed, node and npm.
# KEEP=1 keeps the temporary directory (server log, dump) for a look afterwards.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
: "${RENKEI_BIN:?set RENKEI_BIN to the renkei binary (e.g. target/debug/renkei)}"
bin="$(cd "$(dirname "$RENKEI_BIN")" && pwd)/$(basename "$RENKEI_BIN")"
[ -x "$bin" ] || { echo "conformance: $bin is not an executable" >&2; exit 2; }
python="${PYTHON:-python3}"
"$python" -c 'import fhirpy, fhirclient, pytest' 2>/dev/null || {
  echo "conformance: missing Python packages; run: $python -m pip install -r conformance/requirements.txt" >&2
  exit 2
}
started=$(date +%s)

work="$(mktemp -d "${TMPDIR:-/tmp}/renkei-conformance.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${KEEP:-}" = 1 ]; then echo "conformance: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The server without any RENKEI_* settings of the caller, in the temp dir (no ./renkei.toml).
mkdir -p "$work/dump"
: >"$work/server.out"
(
  cd "$work"
  for v in $(env | sed -n 's/^\(RENKEI_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
  export RUST_LOG="${RUST_LOG:-warn}"
  exec "$bin" demo --data-dir "$work/data" --http-addr 127.0.0.1:0 --mllp-addr 127.0.0.1:0 \
    >"$work/server.out" 2>"$work/server.err"
) &
server_pid=$!

base=""
for _ in $(seq 1 600); do
  base="$(sed -n 's/^renkei ready on \(http[^ ]*\) .*/\1/p' "$work/server.out")"
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.out" "$work/server.err" >&2; echo "conformance: server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { cat "$work/server.err" >&2; echo "conformance: server not ready within 60 s" >&2; exit 1; }
mllp="$(sed -n 's/^renkei mllp on \(.*\)$/\1/p' "$work/server.out")"
echo "conformance: server at $base, MLLP at $mllp"

# A signed-in doctor (for patient registration and PDQm) and the code of the doctor's hospital.
facility="$(cd "$here" && "$python" bootstrap.py "$base" "$work/server.out" "$work/session.json")"
# A system client of that hospital with every scope; SQLite takes the write while the server runs.
"$bin" admin --data-dir "$work/data" create-api-client \
  --facility "$facility" --name "FHIR conformance suite" --scopes "system/*.cruds" --json >"$work/client.json"
read -r client_id client_secret < <("$python" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["client_id"], c["client_secret"])' "$work/client.json")
token="$("$python" - "$base" "$client_id" "$client_secret" <<'EOF'
import sys, requests
base, cid, secret = sys.argv[1:4]
r = requests.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret), timeout=30)
assert r.status_code == 200, r.text
print(r.json()["access_token"])
EOF
)"
echo "conformance: client $client_id of facility $facility"

status=0
(
  cd "$here"
  RENKEI_BASE="$base" RENKEI_FHIR_TOKEN="$token" RENKEI_CLIENT_ID="$client_id" \
    RENKEI_CLIENT_SECRET="$client_secret" RENKEI_SESSION_FILE="$work/session.json" \
    RENKEI_MLLP="$mllp" RENKEI_FACILITY="$facility" RENKEI_DATA_DIR="$work/data" \
    RENKEI_FHIR_DUMP="$work/dump" "$python" -m pytest -q "$@"
) || status=$?

# Medplum's validator over everything the tests received.
if [ ! -d "$here/node_modules/@medplum/core" ] || [ "$here/package-lock.json" -nt "$here/node_modules" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
dumped=$(find "$work/dump" -name '*.json' | wc -l)
[ "$dumped" -gt 0 ] || { echo "conformance: no FHIR bodies were dumped" >&2; exit 1; }
echo "conformance: validating $dumped FHIR bodies with Medplum"
MEDPLUM_DIR="$here" node --experimental-websocket "$repo/e2e/fhir-validate.mjs" "$work/dump" || status=1

echo "conformance: $(( $(date +%s) - started )) s"
exit "$status"
