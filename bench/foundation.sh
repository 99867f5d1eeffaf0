#!/usr/bin/env bash
# Foundation benchmarks for Renkei: start-up time, memory, login (Argon2id) throughput and
# facility-directory latency of `renkei demo`. See bench/README.md.
#
#   bash bench/foundation.sh            # from the repo root (or anywhere)
#   RENKEI_BIN=path/to/renkei bash bench/foundation.sh   # skip the build, use this binary
#
# Extra arguments go to bench/foundation_load.py (e.g. --dir-seconds 30 --login-clients 4).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }

if [[ -z "${RENKEI_BIN:-}" ]]; then
  echo "bench: cargo build --release -p renkei" >&2
  cargo build --release -p renkei >&2
  RENKEI_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/renkei"
fi
[[ -x "$RENKEI_BIN" ]] || { echo "bench: $RENKEI_BIN is not an executable" >&2; exit 1; }

echo "# renkei foundation benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs — $("$RENKEI_BIN" --version 2>/dev/null || echo renkei)"
echo "# binary: $RENKEI_BIN"
# The Python helper owns the server processes and temp dirs and removes them on exit,
# on error and on SIGINT/SIGTERM.
exec python3 "$ROOT/bench/foundation_load.py" --bin "$RENKEI_BIN" "$@"
