#!/usr/bin/env bash
# Tele-ICU benchmarks (issue 6): sustained monitor ingest with ACK after commit, MLLP →
# WebSocket latency with 500 beds each sending once a second, the census page with 500
# beds, and recomputing all five scores of one bed. SQLite, then PostgreSQL (a throwaway
# cluster from scripts/pg-temp.sh unless RENKEI_TEST_POSTGRES_URL is set). See bench/README.md.
#
#   bash bench/icu.sh                       # release build, both backends
#   ICU_BENCH_SQLITE_ONLY=1 bash bench/icu.sh
#   ICU_BENCH_BEDS=200 ICU_BENCH_ROUNDS=30 ICU_BENCH_LIVE_SECONDS=30 bash bench/icu.sh
#
# Output: one JSON object per measurement (lines starting with '{').
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
echo "# renkei Tele-ICU benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs — load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release -p renkei --locked 2>&1 | tail -1
BIN="$ROOT/target/release/renkei"
ARGS=(--binary "$BIN" --beds "${ICU_BENCH_BEDS:-500}" --rounds "${ICU_BENCH_ROUNDS:-60}"
      --live-seconds "${ICU_BENCH_LIVE_SECONDS:-60}" --connections "${ICU_BENCH_CONNECTIONS:-32}")

echo "## scores: all five for one bed"
cargo bench -p renkei-icu-scores --bench scores 2>&1 | grep -E 'ns|µs|ms' | grep -v Finished || true

echo "## SQLite"
python3 bench/icu_bench.py "${ARGS[@]}"

if [[ -z "${ICU_BENCH_SQLITE_ONLY:-}" ]]; then
  echo "## PostgreSQL"
  if [[ -z "${RENKEI_TEST_POSTGRES_URL:-}" ]]; then
    eval "$(scripts/pg-temp.sh start)"
    trap 'scripts/pg-temp.sh stop "$RENKEI_PG_DIR"' EXIT
  fi
  DB="bench_icu_$(date +%s)"
  psql "$RENKEI_TEST_POSTGRES_URL" -qc "CREATE DATABASE $DB"
  python3 bench/icu_bench.py "${ARGS[@]}" --database-url "${RENKEI_TEST_POSTGRES_URL%/*}/$DB"
fi
