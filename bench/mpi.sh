#!/usr/bin/env bash
# Patient-matching benchmark: Renkei (renkei-mpi, mpi-eval) vs Splink 4 (DuckDB backend) on the
# very same synthetic Japanese population files with ground truth. See bench/README.md.
#
#   bash bench/mpi.sh                      # 10k, 100k, 1M records
#   bash bench/mpi.sh --quick              # 10k only
#   bash bench/mpi.sh 10000 100000         # chosen sizes
#   bash bench/mpi.sh --no-splink 1000000  # Renkei only
#   options: --seed S (default 42)  --threshold P (Splink clustering, default 0.9)
#            --splink-timeout SECONDS (default 1200)  --keep (keep the temp dir)
#
# Output: one JSON object per run (lines starting with '{'), then a table.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SEED=42
THRESHOLD=0.9
SPLINK_TIMEOUT=1200
RUN_SPLINK=1
KEEP=0
SIZES=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) SIZES=(10000) ;;
    --seed) SEED="$2"; shift ;;
    --threshold) THRESHOLD="$2"; shift ;;
    --splink-timeout) SPLINK_TIMEOUT="$2"; shift ;;
    --no-splink) RUN_SPLINK=0 ;;
    --keep) KEEP=1 ;;
    [0-9]*) SIZES+=("$1") ;;
    *) echo "bench: unknown argument $1 (see the header of bench/mpi.sh)" >&2; exit 2 ;;
  esac
  shift
done
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(10000 100000 1000000)

command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/renkei-mpi-bench.XXXXXX")"
cleanup() { if [[ $KEEP == 1 ]]; then echo "# kept $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build
TARGET="${CARGO_TARGET_DIR:-target}"
echo "bench: CARGO_TARGET_DIR=$TARGET cargo build --release -p renkei-mpi --features synth --bins" >&2
CARGO_TARGET_DIR="$TARGET" cargo build --release -p renkei-mpi --features synth --bins >&2
[[ "$TARGET" = /* ]] || TARGET="$ROOT/$TARGET"
SYNTH="$TARGET/release/mpi-synth"
EVAL="$TARGET/release/mpi-eval"

# ---------------------------------------------------------------- Splink venv (not timed)
PY=""
if [[ $RUN_SPLINK == 1 ]]; then
  if [[ -x "$ROOT/bench/.venv/bin/python" ]]; then
    PY="$ROOT/bench/.venv/bin/python"
  else
    echo "bench: creating a venv in $TMP/venv and installing splink (DuckDB backend)" >&2
    python3 -m venv "$TMP/venv"
    PY="$TMP/venv/bin/python"
  fi
  if ! "$PY" -c 'import splink, duckdb; assert splink.__version__.startswith("4.")' 2>/dev/null; then
    "$PY" -m pip install -q "splink>=4,<5" >&2
  fi
fi

LOAD1="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
echo "# renkei-mpi vs splink — $(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) CPUs — load average $LOAD1 at start — seed $SEED"
[[ -n "$PY" ]] && echo "# $("$PY" -c 'import splink, duckdb, sys; print(f"splink {splink.__version__}, duckdb {duckdb.__version__}, python {sys.version.split()[0]}")')"

# ---------------------------------------------------------------- generate once per size
for n in "${SIZES[@]}"; do
  echo "bench: mpi-synth --records $n --seed $SEED" >&2
  "$SYNTH" --records "$n" --seed "$SEED" --out "$TMP/pop_$n.csv"
done

# Runs a command, writes its wall seconds and peak RSS (MB, if GNU time exists) to $TMP/wall.
timed() {
  local t0 t1 rc=0
  t0=$(date +%s%N)
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f '%M' -o "$TMP/rss" "$@" || rc=$?
  else
    echo 0 > "$TMP/rss"; "$@" || rc=$?
  fi
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000000 )) $(( $(tail -n1 "$TMP/rss" 2>/dev/null | grep -E '^[0-9]+$' || echo 0) / 1024 ))" > "$TMP/wall"
  return $rc
}

RESULTS="$TMP/results.jsonl"
: > "$RESULTS"
for n in "${SIZES[@]}"; do
  f="$TMP/pop_$n.csv"
  # Renkei: whole process (CSV load + keys + blocking + scoring + clustering + metrics).
  echo "bench: mpi-eval --csv pop_$n.csv" >&2
  timed "$EVAL" --csv "$f" > "$TMP/out" || true
  read -r ms rss < "$TMP/wall"
  python3 - "$n" "$ms" "$rss" "$TMP/out" >> "$RESULTS" <<'EOF'
import json, sys
n, ms, rss, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lines = [l for l in open(path) if l.startswith("{")]
r = {"bench": "mpi", "size": n, "tool": "renkei"}
if lines:
    j = json.loads(lines[-1])
    r.update(precision=j["precision"], recall=j["recall"], f1=j["f1"], wall_s=ms / 1000,
             rss_mb=rss, candidate_pairs=j["candidate_pairs"], blocking_recall=j["blocking_recall"],
             phase_ms=j["ms"])
else:
    r.update(status="failed", wall_s=ms / 1000)
print(json.dumps(r))
EOF
  tail -n1 "$RESULTS"

  if [[ $RUN_SPLINK == 1 ]]; then
    echo "bench: mpi_splink.py --csv pop_$n.csv --threshold $THRESHOLD (timeout ${SPLINK_TIMEOUT}s)" >&2
    rc=0
    timed timeout "$SPLINK_TIMEOUT" "$PY" "$ROOT/bench/mpi_splink.py" --csv "$f" \
      --threshold "$THRESHOLD" --seed "$SEED" > "$TMP/out" 2> "$TMP/err" || rc=$?
    read -r ms rss < "$TMP/wall"
    python3 - "$n" "$ms" "$rss" "$rc" "$SPLINK_TIMEOUT" "$TMP/out" "$TMP/err" >> "$RESULTS" <<'EOF'
import json, sys
n, ms, rss, rc, budget = (int(x) for x in sys.argv[1:6])
lines = [l for l in open(sys.argv[6]) if l.startswith("{")]
r = {"bench": "mpi", "size": n, "tool": "splink"}
if rc == 0 and lines:
    j = json.loads(lines[-1])
    r.update(precision=j["precision"], recall=j["recall"], f1=j["f1"], wall_s=ms / 1000,
             rss_mb=rss, threshold=j["threshold"], phase_s=j["s"])
elif rc == 124:
    r.update(status=f"timeout after {budget} s", wall_s=ms / 1000, rss_mb=rss)
else:
    err = open(sys.argv[7]).read().strip().splitlines()
    oom = rc in (137, -9) or any("OutOfMemory" in l or "Out of Memory" in l for l in err)
    r.update(status=("out of memory" if oom else f"failed rc={rc}"), wall_s=ms / 1000,
             rss_mb=rss, error=(err[-1] if err else ""))
print(json.dumps(r))
EOF
    tail -n1 "$RESULTS"
  fi
done

LOAD2="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$LOAD1" "$LOAD2" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print()
print(f"{'size':>9}  {'tool':<7} {'precision':>9} {'recall':>7} {'F1':>7} {'wall s':>8} {'RSS MB':>7}  note")
for r in rows:
    if "f1" in r:
        note = ""
        if r["tool"] == "renkei":
            p = r["phase_ms"]
            note = (f"load {p.get('load', 0)/1000:.2f} + keys {p['keys']/1000:.2f} + blocking "
                    f"{p['blocking']/1000:.2f} + scoring {p['scoring']/1000:.2f} s")
        else:
            p = r["phase_s"]
            note = (f"import {p['import']} + load/normalise {p['load_normalise']} + train {p['train']}"
                    f" + predict {p['predict']} + cluster {p['cluster']} s; threshold {r['threshold']}")
        print(f"{r['size']:>9}  {r['tool']:<7} {r['precision']:>9.4f} {r['recall']:>7.4f} "
              f"{r['f1']:>7.4f} {r['wall_s']:>8.2f} {r['rss_mb']:>7}  {note}")
    else:
        print(f"{r['size']:>9}  {r['tool']:<7} {'—':>9} {'—':>7} {'—':>7} {r['wall_s']:>8.2f} "
              f"{r.get('rss_mb', 0):>7}  {r['status']} {r.get('error', '')}")
print(f"# wall s = whole process measured by this script; load average {sys.argv[2]} at start, "
      f"{sys.argv[3]} at end (other work on the machine slows both tools)")
EOF
