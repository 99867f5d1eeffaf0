#!/usr/bin/env python3
"""Foundation benchmarks for `renkei demo` (Python standard library only).

Called by bench/foundation.sh; see bench/README.md. Prints a table on stderr-free stdout
and one JSON object per measurement (lines starting with '{').
"""
import argparse
import base64
import hashlib
import hmac
import html
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

DEMO_PASSWORD = "renkei-demo-2026"
DEMO_TOTP_SECRET = "RENKEIDEMORENKEIDEMORENKEIDEMO22"
READY = re.compile(r"^renkei ready on (https?://\S+) \((\w+) backend\) in (\d+) ms$")
TARGETS = {"ready_ms": 1000.0, "rss_mb": 100.0, "directory_p95_ms": 50.0}

_servers = []
_tmpdirs = []


def cleanup(*_):
    for s in list(_servers):
        s.stop()
    for d in list(_tmpdirs):
        shutil.rmtree(d, ignore_errors=True)
        _tmpdirs.remove(d)


def _on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def new_tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


# --- TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s) -------------------------------------

def totp(secret_b32, t=None):
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if t is None else t) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000)


# --- the server under test -----------------------------------------------------------

class Server:
    def __init__(self, binary, data_dir, extra_env=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
        env.setdefault("RUST_LOG", "warn")
        env.update(extra_env or {})
        self.cwd = new_tmpdir("renkei-bench-cwd-")  # no stray ./renkei.toml
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [binary, "demo", "--data-dir", data_dir, "--http-addr", "127.0.0.1:0"],
            cwd=self.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, encoding="utf-8", errors="replace",
        )
        _servers.append(self)
        self.base = None
        deadline = time.monotonic() + 120
        for line in self.proc.stdout:
            m = READY.match(line.rstrip("\n"))
            if m:
                self.ready_ms = (time.monotonic() - self.t0) * 1000
                self.base, self.self_reported_ms = m.group(1), int(m.group(3))
                break
            if time.monotonic() > deadline:
                break
        if self.base is None:
            self.stop()
            raise RuntimeError("renkei did not print its ready line")
        u = urllib.parse.urlsplit(self.base)
        self.host, self.port = u.hostname, u.port
        # Keep draining stdout so the server can never block on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in _servers:
            _servers.remove(self)
        shutil.rmtree(self.cwd, ignore_errors=True)
        if self.cwd in _tmpdirs:
            _tmpdirs.remove(self.cwd)


# --- a minimal HTTP client with cookies ------------------------------------------------

class Client:
    def __init__(self, server):
        self.server = server
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        self.cookies = {}

    def request(self, method, path, form=None):
        headers = {"Accept-Language": "ja"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                res = self.conn.getresponse()
                data = res.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
        for name, value in res.getheaders():
            if name.lower() == "set-cookie":
                k, _, v = value.split(";", 1)[0].partition("=")
                if v:
                    self.cookies[k.strip()] = v.strip()
                else:
                    self.cookies.pop(k.strip(), None)
        return res.status, res.getheader("Location"), data.decode("utf-8", "replace")


def csrf_of(page):
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    if not m:
        raise RuntimeError("no csrf field on the page")
    return html.unescape(m.group(1))


def sign_in(server, login_id):
    c = Client(server)
    _, _, page = c.request("GET", "/login")
    status, loc, _ = c.request("POST", "/login", {"csrf": csrf_of(page), "next": "/",
                                                  "login_id": login_id, "password": DEMO_PASSWORD})
    assert status == 303 and loc.startswith("/login/second-factor"), (status, loc)
    _, _, page = c.request("GET", loc)
    # Stay clear of the end of a step so the code is still valid when it arrives.
    if 30 - time.time() % 30 < 2:
        time.sleep(30 - time.time() % 30 + 0.2)
    status, loc, _ = c.request("POST", "/login/second-factor",
                               {"csrf": csrf_of(page), "next": "/", "code": totp(DEMO_TOTP_SECRET)})
    assert status == 303 and loc == "/", (status, loc)
    return c


# --- load -------------------------------------------------------------------------------

def pct(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(round(p / 100 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def run_load(clients, seconds, work):
    """work(client_index, i) -> (ok: bool); returns latency stats."""
    latencies, errors, lock = [], [0], threading.Lock()
    stop_at = time.monotonic() + seconds
    start = threading.Barrier(len(clients) + 1)

    def worker(idx, client):
        local, errs, i = [], 0, 0
        start.wait()
        while time.monotonic() < stop_at:
            t = time.perf_counter()
            try:
                ok = work(client, i)
            except Exception:  # noqa: BLE001 - count and carry on
                ok = False
            local.append((time.perf_counter() - t) * 1000)
            errs += 0 if ok else 1
            i += 1
        with lock:
            latencies.extend(local)
            errors[0] += errs

    threads = [threading.Thread(target=worker, args=(n, c)) for n, c in enumerate(clients)]
    for th in threads:
        th.start()
    start.wait()
    t0 = time.monotonic()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t0
    latencies.sort()
    return {
        "requests": len(latencies), "errors": errors[0], "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(latencies, 50), 2), "p95_ms": round(pct(latencies, 95), 2),
        "p99_ms": round(pct(latencies, 99), 2),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/renkei")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--login-clients", type=int, default=3)
    ap.add_argument("--login-seconds", type=float, default=10)
    ap.add_argument("--dir-clients", type=int, default=8)
    ap.add_argument("--dir-seconds", type=float, default=15)
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    results = []

    def emit(rec):
        results.append(rec)
        print(json.dumps(rec, ensure_ascii=False), flush=True)

    try:
        # a. start-up time
        fresh, fresh_self = [], []
        warm_dir = None
        for i in range(args.runs):
            d = new_tmpdir("renkei-bench-data-")
            s = Server(binary, os.path.join(d, "data"))
            fresh.append(s.ready_ms)
            fresh_self.append(s.self_reported_ms)
            s.stop()
            if warm_dir is None:
                warm_dir = d
            else:
                shutil.rmtree(d, ignore_errors=True)
                _tmpdirs.remove(d)
        warm, warm_self = [], []
        for i in range(args.runs):
            s = Server(binary, os.path.join(warm_dir, "data"))
            warm.append(s.ready_ms)
            warm_self.append(s.self_reported_ms)
            s.stop()
        for name, runs, selfr in (("ready_fresh", fresh, fresh_self), ("ready_warm", warm, warm_self)):
            med = statistics.median(runs)
            emit({"bench": name, "median_ms": round(med, 1), "runs_ms": [round(r, 1) for r in runs],
                  "server_reported_median_ms": statistics.median(selfr),
                  "target": "< 1000 ms", "ok": med < TARGETS["ready_ms"]})

        # b–d on one warm server with the login limiter raised; directory first so its RSS
        # figure is not inflated by the Argon2id buffers of the login test
        env = {"RENKEI_LOGIN_ATTEMPTS_PER_MINUTE": "1000000"}
        s = Server(binary, os.path.join(warm_dir, "data"), env)
        time.sleep(5)
        rss_idle = s.rss_mb()
        emit({"bench": "rss_idle", "mb": round(rss_idle, 1), "when": "5 s after ready",
              "target": "< 100 MB", "ok": rss_idle < TARGETS["rss_mb"]})

        # d. directory
        signed = sign_in(s, "hospital.doctor")
        _, _, page = signed.request("GET", "/facilities")
        sel = re.search(r'<select id="area" name="area">(.*?)</select>', page, re.S)
        areas = [html.unescape(a) for a in re.findall(r'<option value="([^"]+)"', sel.group(1) if sel else "")]
        q = urllib.parse.quote
        queries = ["/facilities", f"/facilities?q={q('さくら')}", f"/facilities?q={q('訪問')}",
                   "/facilities?type=home_nursing", "/facilities?type=clinic", "/facilities?page=2",
                   f"/facilities?q={q('苫小牧')}&page=2", f"/facilities?q={q('ｻｸﾗ')}&type=home_nursing"]
        queries += [f"/facilities?area={q(a)}" for a in areas[:4]]
        for path in queries:
            st, loc, body = signed.request("GET", path)
            if st != 200 or 'id="result-count"' not in body:
                raise RuntimeError(f"GET {path} -> {st} {loc}")
        dir_clients = [signed] + [Client(s) for _ in range(args.dir_clients - 1)]
        for c in dir_clients[1:]:
            c.cookies = dict(signed.cookies)

        def directory(c, i):
            st, _, body = c.request("GET", queries[i % len(queries)])
            return st == 200 and 'id="result-count"' in body

        r = run_load(dir_clients, args.dir_seconds, directory)
        emit({"bench": "directory", "clients": args.dir_clients, "queries": len(queries), **r,
              "target": "p95 < 50 ms", "ok": r["p95_ms"] < TARGETS["directory_p95_ms"]})

        def healthz(c, i):
            st, _, _ = c.request("GET", "/healthz")
            return st == 200

        r = run_load([Client(s) for _ in range(args.dir_clients)], 5, healthz)
        emit({"bench": "healthz", "clients": args.dir_clients, **r})

        rss_dir = s.rss_mb()
        emit({"bench": "rss_after_directory", "mb": round(rss_dir, 1), "when": "after the directory and /healthz load",
              "target": "< 100 MB", "ok": rss_dir < TARGETS["rss_mb"]})

        # c. password-stage logins
        login_clients = []
        for _ in range(args.login_clients):
            c = Client(s)
            _, _, page = c.request("GET", "/login")
            c.token = csrf_of(page)
            login_clients.append(c)

        def login(c, i):
            status, loc, _ = c.request("POST", "/login", {"csrf": c.token, "next": "/",
                                                          "login_id": "hospital.doctor",
                                                          "password": DEMO_PASSWORD})
            return status == 303 and (loc or "").startswith("/login/second-factor")

        r = run_load(login_clients, args.login_seconds, login)
        emit({"bench": "login_password_stage", "clients": args.login_clients, **r,
              "note": "Argon2id 19 MiB t=2 per request; RENKEI_LOGIN_ATTEMPTS_PER_MINUTE=1000000 raises the per-IP limiter (default 30/min)"})

        rss_login = s.rss_mb()
        time.sleep(5)
        rss_login_idle = s.rss_mb()
        emit({"bench": "rss_after_login", "mb": round(rss_login, 1), "mb_5s_later": round(rss_login_idle, 1),
              "when": "after the login load (Argon2id buffers)", "target": "< 100 MB",
              "ok": rss_login_idle < TARGETS["rss_mb"]})
        s.stop()
    finally:
        cleanup()

    # The table.
    by = {r["bench"]: r for r in results}
    yes = lambda ok: "yes" if ok else "NO"  # noqa: E731
    rows = [("measure", "result", "target", "met")]
    for k, label in (("ready_fresh", "ready, fresh dir (seeds demo), median of %d" % args.runs),
                     ("ready_warm", "ready, warm restart, median of %d" % args.runs)):
        rows.append((label, f"{by[k]['median_ms']:.0f} ms", "< 1000 ms", yes(by[k]["ok"])))
    rows.append(("idle RSS, 5 s after ready", f"{by['rss_idle']['mb']:.1f} MB", "< 100 MB", yes(by["rss_idle"]["ok"])))
    rows.append(("RSS after directory load", f"{by['rss_after_directory']['mb']:.1f} MB", "< 100 MB", yes(by["rss_after_directory"]["ok"])))
    rl = by["rss_after_login"]
    rows.append(("RSS after login load (5 s later)", f"{rl['mb']:.1f} MB ({rl['mb_5s_later']:.1f} MB)", "< 100 MB", yes(rl["ok"])))
    lg = by["login_password_stage"]
    rows.append((f"login (password stage), {lg['clients']} clients",
                 f"{lg['rps']} req/s, p50 {lg['p50_ms']:.0f} / p95 {lg['p95_ms']:.0f} ms, {lg['errors']} errors", "—", "—"))
    d = by["directory"]
    rows.append((f"directory, {d['clients']} clients",
                 f"{d['rps']} req/s, p50 {d['p50_ms']:.1f} / p95 {d['p95_ms']:.1f} / p99 {d['p99_ms']:.1f} ms, {d['errors']} errors",
                 "p95 < 50 ms", yes(d["ok"])))
    h = by["healthz"]
    rows.append((f"/healthz, {h['clients']} clients", f"{h['rps']} req/s, p95 {h['p95_ms']:.1f} ms", "(floor)", "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for n, r in enumerate(rows):
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("\nLogin limiter raised for the load server: RENKEI_LOGIN_ATTEMPTS_PER_MINUTE=1000000 (default 30/min per address).")
    print("Client and server share this machine's CPUs (%d); latencies include the Python client's own overhead." % os.cpu_count())


if __name__ == "__main__":
    main()
