#!/usr/bin/env python3
"""SS-MIX2 collector benchmark (bench/ssmix2.sh): generates a synthetic storage tree with
bench/ssmix2_gen.py, seeds a fresh demo database per backend, and times
`renkei collect ssmix2 --quiet` three times: first run (everything new), second run
(nothing new: skipped by size + mtime), and `--rescan` (every file read and mapped again,
every resource found unchanged). Target fixed here: >= 2,000 files/s.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fhir_bench as fb  # noqa: E402  (Server, seed_demo, clean_env, loadavg, log)

TARGET_FILES_PER_S = 2000
RUNS = [("first", []), ("second", []), ("rescan", ["--rescan"])]


def collect(binary, db_args, root, facility, extra, workdir):
    cmd = [binary, "collect", "ssmix2", *db_args, "--root", root, "--facility", facility, "--quiet", *extra]
    load = fb.loadavg()
    t = time.time()
    out = subprocess.run(cmd, cwd=workdir, env=fb.clean_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    wall = time.time() - t
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if out.returncode not in (0, 3) or "files/s" not in line:
        raise SystemExit(f"bench: collect failed ({out.returncode}): {out.stderr[-2000:]}\n{out.stdout[-2000:]}")
    num = lambda pat: int(m.group(1)) if (m := re.search(pat, line)) else None  # noqa: E731
    files = num(r": (\d+) files \(")
    return {
        "files": files,
        "already_collected": num(r"(\d+) already collected"),
        "stored": num(r"(\d+) stored,"),
        "errors": num(r"(\d+) with errors"),
        "versions_stored": num(r"resources: (\d+) versions stored"),
        "unchanged": num(r"(\d+) unchanged\)"),
        "registered": num(r"(\d+) patients registered"),
        "collector_files_per_s": float(re.search(r"([\d.]+) files/s", line).group(1)),
        "wall_s": round(wall, 2),
        "files_per_s": round(files / wall, 1) if files else 0.0,
        "load_before": load,
        "exit": out.returncode,
        "error_lines": out.stderr.count("error: "),
        "summary": line,
    }


def prepare(backend, binary, args, cleanups):
    work = tempfile.mkdtemp(prefix=f"renkei-ssmix2-bench-{backend}-")
    cleanups.append(lambda: shutil.rmtree(work, ignore_errors=True))
    if backend == "sqlite":
        db_args = ["--data-dir", os.path.join(work, "data")]
    else:
        url = args.pg_url
        if not url:
            out = subprocess.run(["bash", os.path.join(fb.ROOT, "scripts", "pg-temp.sh"), "start"],
                                 stdout=subprocess.PIPE, text=True, check=True)
            env = dict(re.findall(r"(\w+)=(\S+)", out.stdout))
            url, pgdir = env["RENKEI_TEST_POSTGRES_URL"], env["RENKEI_PG_DIR"]
            cleanups.append(lambda: subprocess.run(
                ["bash", os.path.join(fb.ROOT, "scripts", "pg-temp.sh"), "stop", pgdir]))
        dbname = f"bench_ssmix2_{int(time.time())}"
        subprocess.run(["psql", url, "-qc", f"CREATE DATABASE {dbname}"], check=True)
        db_args = ["--database-url", url.rsplit("/", 1)[0] + "/" + dbname]
    fb.seed_demo(binary, db_args, work)
    return db_args, work


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin", required=True)
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--facility", default="F00006")
    p.add_argument("--pg-url", help="existing PostgreSQL server URL (…/postgres); default: scripts/pg-temp.sh")
    p.add_argument("--tree", help="reuse this generated storage tree (created when missing)")
    args = p.parse_args()
    args.bin = os.path.abspath(args.bin)

    cleanups = []
    results = []
    try:
        tree = args.tree
        if not tree:
            tmp = tempfile.mkdtemp(prefix="renkei-ssmix2-tree-")
            cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
            tree = os.path.join(tmp, "storage")
        if not os.path.isdir(tree):
            t = time.time()
            out = subprocess.run([sys.executable, os.path.join(fb.ROOT, "bench", "ssmix2_gen.py"),
                                  "--out", tree, "--files", str(args.files)],
                                 stdout=subprocess.PIPE, text=True, check=True)
            n, patients, per = out.stdout.split()
            fb.log(f"generated {n} files for {patients} patients ({per} per patient) in {time.time() - t:.1f} s: {tree}")
        for backend in [b for b in args.backends.split(",") if b]:
            db_args, work = prepare(backend, args.bin, args, cleanups)
            for label, extra in RUNS:
                # Cold-ish page cache for the tree is not forced; the first run reads it first.
                r = collect(args.bin, db_args, tree, args.facility, extra, work)
                r = {"bench": "ssmix2_collect", "backend": backend, "run": label, **r}
                print(json.dumps(r, ensure_ascii=False), flush=True)
                results.append(r)
    finally:
        for c in reversed(cleanups):
            try:
                c()
            except Exception as e:  # noqa: BLE001
                fb.log(f"cleanup: {e}")

    print()
    print(f"# SS-MIX2 collector — {results[0]['files'] if results else 0:,} files, "
          f"facility {args.facility}, {os.cpu_count()} CPUs")
    head = (f"{'backend':<9} {'run':<8} {'files':>7} {'wall s':>7} {'files/s':>8} {'(own)':>7} "
            f"{'stored':>7} {'versions':>9} {'errors':>6} {'load 1/5/15':>16}  {'target':<14} result")
    print(head)
    print("-" * len(head))
    for r in results:
        ok = r["files_per_s"] >= TARGET_FILES_PER_S and not r["errors"]
        print(f"{r['backend']:<9} {r['run']:<8} {r['files']:>7} {r['wall_s']:>7.2f} {r['files_per_s']:>8.0f} "
              f"{r['collector_files_per_s']:>7.0f} {r['stored'] or 0:>7} {r['versions_stored'] or 0:>9} "
              f"{r['errors'] or 0:>6} {r['load_before']:>16}  {'≥ 2,000 files/s':<14} {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
