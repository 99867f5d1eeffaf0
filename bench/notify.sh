#!/usr/bin/env bash
# Live notification latency to 1,000 connected clients (issue 5: p99 < 200 ms): 1,000
# signed-in members of one care team each hold GET /notifications/stream (SSE) open; an
# urgent timeline post notifies them all; per-client receive latency p50/p99/max, measured
# from the moment the POST is sent. SQLite, then PostgreSQL when RENKEI_TEST_POSTGRES_URL is
# set (events then travel through LISTEN/NOTIFY). See bench/README.md.
#
#   bash bench/notify.sh                                  # release build, both backends
#   NOTIFY_BENCH_SQLITE_ONLY=1 bash bench/notify.sh
#   NOTIFY_BENCH_CLIENTS=2000 NOTIFY_BENCH_RUNS=20 bash bench/notify.sh
#   PROFILE=dev bash bench/notify.sh                      # debug build (figures only indicative)
#
# Server and clients (reqwest, one connection each) run in one process on two worker
# threads (crates/renkei-web/tests/notify_bench.rs). Output: one JSON object per run and a
# summary (lines starting with '{').
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE="${PROFILE:-release}"
FLAGS=()
[[ "$PROFILE" == release ]] && FLAGS+=(--release)
# Two sockets per client (both ends live in this process).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "# renkei notify benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs — profile $PROFILE — load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo test "${FLAGS[@]}" -p renkei-web --test notify_bench -- --ignored --nocapture --test-threads 1 2>&1 \
  | grep -E '^\{|^test result|panicked' || { echo "bench: the benchmark failed" >&2; exit 1; }
