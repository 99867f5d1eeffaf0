#!/usr/bin/env bash
# FHIR API benchmark: read, search, create, CRUD mix, 100-entry transaction and
# Patient/$everything over >= 1,000 patients and >= 1,000,000 resources, 32 connections,
# SQLite then PostgreSQL. See bench/README.md.
#
#   bash bench/fhir.sh                                   # full scale, both backends
#   bash bench/fhir.sh --backends sqlite --seconds 20    # options of bench/fhir_bench.py
#   bash bench/fhir.sh --patients 100 --resources 20000 --seconds 5   # quick check
#   RENKEI_BIN=… FHIR_LOAD_BIN=… bash bench/fhir.sh      # skip the build
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
  else sudo apt-get install -y wrk >&2; fi
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [[ -z "${RENKEI_BIN:-}" || -z "${FHIR_LOAD_BIN:-}" ]]; then
  echo "bench: cargo build --release -p renkei -p fhir-load" >&2
  cargo build --release -p renkei -p fhir-load >&2
fi
RENKEI_BIN="${RENKEI_BIN:-$TARGET/release/renkei}"
FHIR_LOAD_BIN="${FHIR_LOAD_BIN:-$TARGET/release/fhir-load}"
echo "# renkei FHIR API benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs — $("$RENKEI_BIN" --version 2>/dev/null || echo renkei) — load $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 "$ROOT/bench/fhir_bench.py" --bin "$RENKEI_BIN" --loader "$FHIR_LOAD_BIN" "$@"
