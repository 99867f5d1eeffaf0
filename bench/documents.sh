#!/usr/bin/env bash
# PDF generation time per document (target < 300 ms): p50/p95/max of rendering a fully
# filled 診療情報提供書 (pdf::render: Japanese font subset, layout, compression) and of
# GET /patients/{id}/documents/{doc}/pdf through the real server. See bench/README.md.
#
#   bash bench/documents.sh                     # release build
#   DOCUMENTS_BENCH_RUNS=200 bash bench/documents.sh
#   PROFILE=dev bash bench/documents.sh         # debug build (dependencies at opt-level 1)
#
# Needs a Japanese font (Debian: fonts-noto-cjk). Output: one JSON object per measurement
# (lines starting with '{').
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE="${PROFILE:-release}"
FLAGS=()
[[ "$PROFILE" == release ]] && FLAGS+=(--release)
echo "# renkei documents benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs — profile $PROFILE — load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo test "${FLAGS[@]}" -p renkei-web --test documents_bench -- --ignored --nocapture --test-threads 1 2>&1 \
  | grep -E '^\{|^test result|panicked' || { echo "bench: the benchmark failed" >&2; exit 1; }
