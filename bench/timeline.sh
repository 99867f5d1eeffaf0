#!/usr/bin/env bash
# Timeline page latency with 10,000 posts (and 1,000 replies) on one patient: p50/p95/max of
# GET /patients/{id}/timeline (first and last page) and of the patient page with its unread
# count, for the posting facility and for the other facility of the care team, SQLite then
# PostgreSQL (when RENKEI_TEST_POSTGRES_URL is set). Target: p95 < 100 ms. See bench/README.md.
#
#   bash bench/timeline.sh                        # release build, both backends
#   TIMELINE_BENCH_SQLITE_ONLY=1 bash bench/timeline.sh
#   TIMELINE_BENCH_POSTS=20000 TIMELINE_BENCH_REPLIES=2000 TIMELINE_BENCH_RUNS=200 bash bench/timeline.sh
#   PROFILE=dev bash bench/timeline.sh            # debug build (figures only indicative)
#   TIMELINE_BENCH_PG_OPTIONS="-c plan_cache_mode=force_custom_plan" bash bench/timeline.sh
#
# The posts are loaded through the clinical write path (renkei_core::clinical::import) into
# a fresh database of the test network (crates/renkei-web/tests/testkit); pages are fetched
# sequentially through the real server after three warm-up requests. Output: one JSON
# object per measurement (lines starting with '{').
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE="${PROFILE:-release}"
FLAGS=()
[[ "$PROFILE" == release ]] && FLAGS+=(--release)
echo "# renkei timeline benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs — profile $PROFILE — load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo test "${FLAGS[@]}" -p renkei-web --test timeline_bench -- --ignored --nocapture --test-threads 1 2>&1 \
  | grep -E '^\{|^test result|panicked' || { echo "bench: the benchmark failed" >&2; exit 1; }
