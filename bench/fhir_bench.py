#!/usr/bin/env python3
"""FHIR API benchmark driver (bench/fhir.sh): loads a database with fhir-load, starts
`renkei demo` on it, creates an OAuth2 client, and runs each scenario with wrk
(bench/fhir_wrk.lua) for a fixed time at a fixed concurrency. Standard library only.

Prints one JSON object per measurement (lines starting with `{`) and a table with each
figure next to its target. Targets are fixed here and never adjusted to fit a result.
"""

import argparse
import base64
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bench", "fhir_wrk.lua")

# The targets (2 cores, load generator on the same machine). Never edit to fit.
TARGETS = {
    "read": {"rps": 15000, "p99_ms": 20},
    "search": {"rps": 3000, "p99_ms": 20},
    "create": {"p99_ms": 20},
    "crud": {"rps": 5000, "p99_ms": 20},
    "transaction": {},
    "everything": {},
}
LABELS = {
    "read": "read by id (Observation)",
    "search": "search Observation patient+code+date range",
    "create": "create Observation",
    "crud": "CRUD mix 50r/20c/20u/10s",
    "transaction": "transaction, 100 entries",
    "everything": "Patient/$everything",
}
SCENARIOS = ["read", "search", "create", "crud", "transaction", "everything"]

children = []
cleanups = []


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    env.setdefault("RUST_LOG", "warn")
    return env


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Server:
    def __init__(self, binary, db_args, workdir, log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "demo", *db_args, "--http-addr", "127.0.0.1:0"],
            cwd=workdir,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        children.append(self.proc)
        self.url = None
        deadline = time.time() + 600
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"renkei ready on (\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise SystemExit(f"bench: server did not start; see {log_path}")
        # Keep draining stdout so the server never blocks on a full pipe.
        import threading

        threading.Thread(target=self._drain, daemon=True).start()
        u = urllib.parse.urlparse(self.url)
        self.host, self.port = u.hostname, u.port

    def _drain(self):
        for _ in self.proc.stdout:
            pass

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def seed_demo(binary, db_args, workdir):
    """Creates the demo network (facilities, users, ~590 registrations) in an empty database."""
    t = time.time()
    s = Server(binary, db_args, workdir, os.path.join(workdir, "seed.log"))
    s.stop()
    log(f"demo network seeded in {time.time() - t:.1f} s")


def run_loader(loader, db_args, manifest, args, workdir):
    cmd = [
        loader, *db_args, "--facility", args.facility, "--patients", str(args.patients),
        "--resources", str(args.resources), "--manifest", manifest,
    ]
    log(" ".join(cmd))
    t = time.time()
    out = subprocess.run(cmd, cwd=workdir, env=clean_env(), stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench: fhir-load failed ({out.returncode})")
    result = None
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
    log(f"fhir-load finished in {time.time() - t:.1f} s")
    return result


def api_client(binary, db_args, facility, workdir):
    out = subprocess.run(
        [binary, "admin", *db_args, "create-api-client", "--facility", facility,
         "--name", f"bench {time.strftime('%H:%M:%S')}", "--scopes", "system/*.cruds", "--json"],
        cwd=workdir, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench: create-api-client failed: {out.stderr.strip()}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["client_id"], data["client_secret"]


def get_token(server, client_id, secret):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    conn.request(
        "POST", "/oauth/token", body="grant_type=client_credentials&scope=system%2F*.cruds",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    res = conn.getresponse()
    body = res.read()
    conn.close()
    if res.status != 200:
        raise SystemExit(f"bench: token request failed {res.status}: {body[:300]!r}")
    return json.loads(body)["access_token"]


def smoke(server, token, manifest):
    """One request per scenario kind by hand, so a broken setup fails loudly before wrk."""
    with open(manifest) as f:
        lines = [l.split() for l in f]
    person = next(l[2] for l in lines if l[0] == "patient")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    h = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    for path in ["/fhir/Observation/bench-obs-0-0", f"/fhir/Observation?patient=Patient/{person}&_count=1"]:
        conn.request("GET", path, headers=h)
        res = conn.getresponse()
        body = res.read()
        if res.status != 200:
            raise SystemExit(f"bench: smoke test GET {path} → {res.status}: {body[:400]!r}")
    conn.close()


def run_wrk(server, token, manifest, scenario, seconds, args):
    env = dict(os.environ, BENCH_SCENARIO=scenario, BENCH_TOKEN=token, BENCH_MANIFEST=manifest)
    if args.everything_count:
        env["BENCH_EVERYTHING_COUNT"] = str(args.everything_count)
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
           "--timeout", "30s", "-s", LUA, server.url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    srv_cpu = cpu_seconds(server.proc.pid)
    load_before = loadavg()
    t = time.time()
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    srv_cpu = cpu_seconds(server.proc.pid) - srv_cpu
    data = None
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            data = json.loads(line[len("BENCHJSON "):])
    if out.returncode != 0 or data is None:
        raise SystemExit(f"bench: wrk failed ({out.returncode}): {out.stderr.strip()[:2000]}\n{out.stdout[-2000:]}")
    data["server_cpu_cores"] = round(srv_cpu / wall, 2)
    data["client_cpu_cores"] = round(
        ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / wall, 2)
    data["load_before"] = load_before
    data["load_after"] = loadavg()
    data["server_rss_mb"] = round(rss_mb(server.proc.pid))
    return data


def prepare_sqlite(args, binary, loader):
    """A loaded data dir: the cache when it holds this load, else a new load into it; the
    run gets a copy (unless --no-copy) so the cache stays as loaded."""
    cache = args.cache or os.path.join(ROOT, "bench", ".cache", f"fhir-sqlite-{args.patients}-{args.resources}")
    marker = os.path.join(cache, "bench-load.json")
    load_info = None
    if os.path.exists(marker):
        with open(marker) as f:
            load_info = json.load(f)
        log(f"reusing loaded SQLite dir {cache}")
    else:
        shutil.rmtree(cache, ignore_errors=True)
        os.makedirs(cache)
        seed_demo(binary, ["--data-dir", cache], cache)
        load_info = run_loader(loader, ["--data-dir", cache], os.path.join(cache, "bench-manifest.txt"), args, cache)
        with open(marker, "w") as f:
            json.dump(load_info, f)
    if args.no_copy:
        work = cache
    else:
        work = tempfile.mkdtemp(prefix="renkei-fhir-bench-")
        cleanups.append(lambda: shutil.rmtree(work, ignore_errors=True))
        t = time.time()
        for name in os.listdir(cache):
            src = os.path.join(cache, name)
            if os.path.isfile(src):
                shutil.copy2(src, os.path.join(work, name))
        log(f"copied the loaded dir to {work} in {time.time() - t:.1f} s")
    return ["--data-dir", work], os.path.join(work, "bench-manifest.txt"), work, load_info


def prepare_postgres(args, binary, loader):
    url = args.pg_url
    if not url:
        out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "pg-temp.sh"), "start"],
                             stdout=subprocess.PIPE, text=True, check=True)
        env = dict(re.findall(r"(\w+)=(\S+)", out.stdout))
        url, pgdir = env["RENKEI_TEST_POSTGRES_URL"], env["RENKEI_PG_DIR"]
        if not args.keep_pg:
            cleanups.append(lambda: subprocess.run(
                ["bash", os.path.join(ROOT, "scripts", "pg-temp.sh"), "stop", pgdir]))
        else:
            log(f"PostgreSQL kept: {url} (stop with scripts/pg-temp.sh stop {pgdir})")
    dbname = f"bench_fhir_{args.patients}_{args.resources}"
    base = url.rsplit("/", 1)[0]
    db_url = f"{base}/{dbname}"
    exists = subprocess.run(["psql", url, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'"],
                            stdout=subprocess.PIPE, text=True, check=True).stdout.strip() == "1"
    work = tempfile.mkdtemp(prefix="renkei-fhir-bench-pg-")
    cleanups.append(lambda: shutil.rmtree(work, ignore_errors=True))
    manifest = os.path.join(work, "bench-manifest.txt")
    if not exists:
        subprocess.run(["psql", url, "-qc", f"CREATE DATABASE {dbname}"], check=True)
        seed_demo(binary, ["--database-url", db_url], work)
    # fhir-load is idempotent: on a loaded database it only writes the manifest.
    session_url = db_url
    if args.pg_options:
        session_url += "?options=" + urllib.parse.quote(args.pg_options, safe="")
        log(f"PostgreSQL session options: {args.pg_options}")
    load_info = run_loader(loader, ["--database-url", session_url], manifest, args, work)
    t = time.time()
    subprocess.run(["psql", db_url, "-qc", "ANALYZE"], check=True)
    log(f"ANALYZE in {time.time() - t:.1f} s")
    return ["--database-url", session_url], manifest, work, load_info


def run_backend(backend, args, binary, loader):
    if backend == "sqlite":
        db_args, manifest, work, load_info = prepare_sqlite(args, binary, loader)
    else:
        db_args, manifest, work, load_info = prepare_postgres(args, binary, loader)
    results = []
    if load_info:
        load_info = dict(load_info, backend=backend)
        print(json.dumps(load_info), flush=True)
        results.append(load_info)
    server = Server(binary, db_args, work, os.path.join(work, "server.log"))
    cleanups.append(server.stop)
    log(f"{backend}: server {server.url}")
    client_id, secret = api_client(binary, db_args, args.facility, work)
    smoke(server, get_token(server, client_id, secret), manifest)
    for scenario in args.scenarios:
        token = get_token(server, client_id, secret)  # tokens live 300 s: one per scenario
        if args.warmup > 0:
            run_wrk(server, token, manifest, scenario, args.warmup, args)
        r = run_wrk(server, token, manifest, scenario, args.seconds, args)
        r = {"bench": "fhir", "backend": backend, **r}
        print(json.dumps(r), flush=True)
        results.append(r)
    server.stop()
    return results


def verdict(r):
    t = TARGETS.get(r["scenario"], {})
    errors = r["bad_status"] + sum(r["socket_errors"].values())
    checks = []
    if "rps" in t:
        checks.append(r["rps"] >= t["rps"])
    if "p99_ms" in t:
        checks.append(r["p99_ms"] < t["p99_ms"])
    target = " · ".join(
        ([f"≥ {t['rps']:,}/s"] if "rps" in t else []) + ([f"p99 < {t['p99_ms']} ms"] if "p99_ms" in t else []))
    if not checks:
        return target or "—", "reported" if errors == 0 else f"{errors} errors"
    ok = all(checks) and errors == 0
    return target, ("met" if ok else "MISSED") + ("" if errors == 0 else f" ({errors} errors)")


def table(all_results, args):
    print()
    print(f"# FHIR API — {args.patients:,} patients, {args.resources:,} resources, "
          f"{args.connections} connections, {args.seconds} s per scenario, wrk -t{args.threads}, {os.cpu_count()} CPUs")
    head = f"{'backend':<9} {'scenario':<44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'srv/cli cores':>13} {'load 1/5/15':>16}  {'target':<24} result"
    print(head)
    print("-" * len(head))
    for r in all_results:
        if r.get("bench") == "fhir_load":
            print(f"{r['backend']:<9} {'load: fhir-load (import, real write path)':<44} {r['resources_per_s']:>9,.0f} "
                  f"{'':>8} {'':>8} {'':>7} {'':>13} {'':>16}  {'—':<24} {r['resources']:,} resources in {r['seconds']} s")
            continue
        target, result = verdict(r)
        errors = r["bad_status"] + sum(r["socket_errors"].values())
        cores = f"{r['server_cpu_cores']:.1f}/{r['client_cpu_cores']:.1f}"
        print(f"{r['backend']:<9} {LABELS[r['scenario']]:<44} {r['rps']:>9,.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{errors:>7} {cores:>13} {r['load_before']:>16}  {target:<24} {result}")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin", required=True)
    p.add_argument("--loader", required=True)
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--patients", type=int, default=1000)
    p.add_argument("--resources", type=int, default=1_000_000)
    p.add_argument("--facility", default="F00006")
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--everything-count", type=int, default=0,
                   help="_count for $everything (default: none, the server's default page)")
    p.add_argument("--cache", help="loaded SQLite data dir to reuse (created when missing)")
    p.add_argument("--no-copy", action="store_true", help="run on the cache dir itself (it grows)")
    p.add_argument("--pg-url", help="existing PostgreSQL server URL (…/postgres); default: scripts/pg-temp.sh")
    p.add_argument("--keep-pg", action="store_true")
    p.add_argument("--pg-options",
                   help="PostgreSQL session options for the server and loader, e.g. '-c plan_cache_mode=auto'")
    args = p.parse_args()
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.bin, args.loader = os.path.abspath(args.bin), os.path.abspath(args.loader)
    for s in args.scenarios:
        if s not in SCENARIOS:
            raise SystemExit(f"bench: unknown scenario {s}")
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is needed (apt-get install wrk)")

    def on_signal(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    all_results = []
    try:
        for backend in [b for b in args.backends.split(",") if b]:
            log(f"{backend}: load {loadavg()}")
            all_results += run_backend(backend, args, args.bin, args.loader)
    finally:
        for c in reversed(cleanups):
            try:
                c()
            except Exception as e:  # noqa: BLE001
                log(f"cleanup: {e}")
        for c in children:
            if c.poll() is None:
                c.kill()
    table(all_results, args)


if __name__ == "__main__":
    main()
