#!/usr/bin/env bash
# SS-MIX2 collector benchmark: a synthetic standardized storage of >= 20,000 files (the
# real sample files replicated over many patients), collected into a fresh demo database
# three times (first, nothing new, --rescan); SQLite then PostgreSQL. See bench/README.md.
#
#   bash bench/ssmix2.sh                       # 20,000 files, both backends
#   bash bench/ssmix2.sh --files 2000 --backends sqlite
#   RENKEI_BIN=target/release/renkei bash bench/ssmix2.sh   # skip the build
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }
if [[ -z "${RENKEI_BIN:-}" ]]; then
  echo "bench: cargo build --release -p renkei" >&2
  cargo build --release -p renkei >&2
  RENKEI_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/renkei"
fi
echo "# renkei SS-MIX2 collector benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs — $("$RENKEI_BIN" --version 2>/dev/null || echo renkei) — load $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 "$ROOT/bench/ssmix2_bench.py" --bin "$RENKEI_BIN" "$@"
