#!/usr/bin/env bash
# Cost of the access decision point per patient-data read. See bench/README.md.
#   bash bench/access.sh [--seconds 30]      RENKEI_BIN=… skips the build
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ -z "${RENKEI_BIN:-}" ]]; then
  cargo build --release -p renkei >&2
  RENKEI_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/renkei"
fi
echo "# renkei access-decision benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs"
exec python3 "$ROOT/bench/access_load.py" --bin "$RENKEI_BIN" "$@"
