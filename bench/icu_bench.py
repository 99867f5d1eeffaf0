#!/usr/bin/env python3
"""Tele-ICU benchmarks against `renkei demo` (Python standard library only).

Called by bench/icu.sh; see bench/README.md. For one backend (SQLite, or PostgreSQL with
--database-url) it:

  1. imports BEDS monitored beds (`renkei admin icu-import`) at the demo's two ICU hospitals;
  2. ingest: `renkei simulate monitors --fast` sends ROUNDS rounds of every bed as fast as
     the ACKs come back (ACK only after commit) — observations/s and ACK latency;
  3. live: the simulator sends one message per bed per second (BEDS messages/s) while a
     probe bed gets a message with a fresh heart rate every PROBE_INTERVAL seconds and a
     census WebSocket (signed in as the demo physician) waits for that value — the time
     from handing the message to MLLP to the WebSocket frame carrying it (p50/p99);
  4. census: GET /icu (all beds) repeated while the live load runs — p50/p95.

Prints one JSON object per measurement (lines starting with '{').
"""
import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import foundation_load as fl  # noqa: E402  (sign-in, TOTP, HTTP client, percentiles)

READY = re.compile(r"^renkei ready on (https?://\S+) \((\w+) backend\)")
MLLP = re.compile(r"^renkei mllp on (\S+)$")


class Demo:
    """`renkei demo` with an MLLP listener on a free port."""

    def __init__(self, binary, data_dir, database_url=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
        env.setdefault("RUST_LOG", "warn")
        args = [binary, "demo", "--data-dir", data_dir, "--http-addr", "127.0.0.1:0",
                "--mllp-addr", "127.0.0.1:0"]
        if database_url:
            args += ["--database-url", database_url]
        self.cwd = fl.new_tmpdir("renkei-icu-bench-cwd-")
        self.proc = subprocess.Popen(args, cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
                                     errors="replace")
        fl._servers.append(self)
        self.base = self.mllp = None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            m = MLLP.match(line)
            if m:
                self.mllp = m.group(1)
            m = READY.match(line)
            if m:
                self.base, self.backend = m.group(1), m.group(2)
                break
        if self.base is None or self.mllp is None:
            self.stop()
            raise RuntimeError("renkei demo did not print its MLLP and ready lines")
        u = fl.urllib.parse.urlsplit(self.base)
        self.host, self.port = u.hostname, u.port
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        fl.Server.stop(self)


# --- a minimal WebSocket client (RFC 6455: client-masked frames, text only) --------------

class WebSocket:
    def __init__(self, host, port, path, cookies, origin):
        self.sock = socket.create_connection((host, port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\nCookie: {cookie}\r\n\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("WebSocket handshake: connection closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("WebSocket handshake refused: " + head.decode(errors="replace"))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("WebSocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_text(self):
        """The next text message (fragments joined); pings are answered."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, fin, n = b0 & 0x0F, b0 & 0x80, b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._read(2), "big")
            elif n == 127:
                n = int.from_bytes(self._read(8), "big")
            payload = self._read(n)
            if opcode == 0x9:  # ping → pong
                mask = os.urandom(4)
                body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
                self.sock.sendall(bytes([0x8A, 0x80 | len(body)]) + mask + body)
                continue
            if opcode == 0x8:
                raise RuntimeError("WebSocket closed by the server")
            parts.append(payload)
            if fin:
                return b"".join(parts).decode("utf-8")


# --- MLLP ---------------------------------------------------------------------------------

class Mllp:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def exchange(self, text):
        self.sock.sendall(b"\x0b" + text.encode() + b"\x1c\x0d")
        while b"\x1c\x0d" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("MLLP connection closed")
            self.buf += chunk
        frame, self.buf = self.buf.split(b"\x1c\x0d", 1)
        ack = frame.lstrip(b"\x0b").decode(errors="replace")
        code = next((seg.split("|")[1] for seg in ack.split("\r") if seg.startswith("MSA|")), "")
        return code, ack


def ts(epoch):
    return time.strftime("%Y%m%d%H%M%S", time.localtime(epoch)) + time.strftime("%z")


def probe_adt(facility, bed, patient):
    now = ts(time.time())
    return (f"MSH|^~\\&|BENCH|{facility}|RENKEI|C|{now}||ADT^A01^ADT_A01|PROBE-A01-{int(time.time())}|P|2.5|||||||UNICODE UTF-8\r"
            f"EVN|A01|{now}\r"
            f"PID|||{patient}^^^HOSP^PI||計測^太郎^^^^^L^I~ケイソク^タロウ^^^^^L^P||19600101|M\r"
            f"PV1||I|ICU^^{bed}")


def probe_oru(facility, bed, patient, control, hr, at):
    t = ts(at)
    return (f"MSH|^~\\&|BENCH|{facility}|RENKEI|C|{t}||ORU^R01^ORU_R01|{control}|P|2.6|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
            f"PID|||{patient}^^^HOSP^PI\r"
            f"PV1||I|ICU^^{bed}\r"
            f"OBR|1|||182777000^monitoring of patient^SCT|||{t}\r"
            f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{hr}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||{t}\r"
            f"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.2|97|262688^MDC_DIM_PERCENT^MDC|||||R|||{t}")


# --- the run --------------------------------------------------------------------------------

def run(binary, backend_name, database_url, beds, rounds, live_seconds, connections,
        probe_interval):
    data = fl.new_tmpdir("renkei-icu-bench-")
    server = Demo(binary, data, database_url)
    db_args = ["--data-dir", data] + (["--database-url", database_url] if database_url else [])
    try:
        # The demo's two ICU hospitals, by facility code.
        fac = facility_codes(binary, db_args, data, database_url)
        half = beds // 2
        conf = os.path.join(data, "bench-icu.toml")
        with open(conf, "w") as f:
            for code, unit, n, colour in ((fac[0], "BICU", half, "#1f6fb4"),
                                          (fac[1], "BHCU", beds - half, "#b45f1f")):
                keys = ", ".join(f'"B-{i:03d}"' for i in range(1, n + 1))
                f.write(f'[[unit]]\nfacility = "{code}"\ncentre = "{fac[0]}"\ncode = "{unit}"\n'
                        f'name = "{unit}"\nkind = "icu"\ncolour = "{colour}"\n'
                        f'sampling_seconds = 5\nbeds = [{keys}'
                        + (', "PROBE-1"' if code == fac[0] else "") + ']\n\n')
        r = subprocess.run([binary, "admin", *db_args, "icu-import", "--file", conf],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("icu-import failed: " + r.stderr)
        time.sleep(5.5)  # the listener's bed cache
        sim = [binary, "simulate", "monitors", "--to", server.mllp, "--beds", str(beds),
               "--facility", f"{fac[0]},{fac[1]}", "--bed-prefix", "B-", "--patient-prefix", "BEN",
               "--no-dropouts",
               "--connections", str(connections), "--json"]
        # Admissions: one ADT^A01 per bed (patients registered through the patient index).
        t = time.monotonic()
        r = subprocess.run(sim + ["--ticks", "1", "--fast", "--interval", "60", "--seed", "11"],
                           capture_output=True, text=True)
        admitted = json.loads(r.stdout.strip().splitlines()[-1])
        print(json.dumps({"bench": "icu.admit", "backend": backend_name, "beds": beds,
                          "accepted": admitted["accepted"], "errors": admitted["errors"],
                          "seconds": round(time.monotonic() - t, 2)}), flush=True)

        # 2. sustained ingest, ACK after commit.
        r = subprocess.run(sim + ["--ticks", str(rounds), "--fast", "--interval", "60",
                                  "--seed", "11", "--no-admit"],
                           capture_output=True, text=True)
        ingest = json.loads(r.stdout.strip().splitlines()[-1])
        print(json.dumps({"bench": "icu.ingest", "backend": backend_name, "beds": beds,
                          "connections": connections, "messages": ingest["messages"],
                          "accepted": ingest["accepted"], "errors": ingest["errors"],
                          "rejected": ingest["rejected"], "failed": ingest["failed"],
                          "observations": ingest["observations"],
                          "observations_per_s": ingest["observations_per_second"],
                          "messages_per_s": ingest["messages_per_second"],
                          "ack_ms_p50": ingest["ack_ms_p50"], "ack_ms_p99": ingest["ack_ms_p99"],
                          "target_observations_per_s": 50000}), flush=True)

        # 3 + 4. live load: every bed once a second; probe latency and census page.
        probe_mllp = Mllp(server.mllp)
        code, ack = probe_mllp.exchange(probe_adt(fac[0], "PROBE-1", "PROBE0001"))
        if code != "AA":
            raise RuntimeError("probe admission refused: " + ack)
        doctor = fl.sign_in(server, "hospital.doctor")
        live = subprocess.Popen(sim + ["--interval", "1", "--ticks", str(int(live_seconds) + 5),
                                       "--seed", "11", "--no-admit"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(3)
        ws = WebSocket(server.host, server.port, "/icu/ws", doctor.cookies, server.base)
        snapshot = json.loads(ws.recv_text())
        shown = len(snapshot["rows"])
        latencies, missed, lock = [], [0], threading.Lock()
        pending = {}

        def reader():
            while True:
                try:
                    frame = json.loads(ws.recv_text())
                except Exception:
                    return
                got = time.perf_counter()
                for row in frame.get("rows", []):
                    if row.get("bed") != "PROBE-1":
                        continue
                    hr = next((c["value"] for c in row["cells"] if c["item"] == "hr"), None)
                    with lock:
                        sent = pending.pop(hr, None)
                    if sent is not None:
                        latencies.append((got - sent) * 1000)

        threading.Thread(target=reader, daemon=True).start()
        census = []

        def census_loop(stop_at):
            c = fl.Client(server)
            c.cookies = dict(doctor.cookies)
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                status, _, page = c.request("GET", "/icu")
                if status == 200:
                    census.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.2)

        stop_at = time.monotonic() + live_seconds
        cthread = threading.Thread(target=census_loop, args=(stop_at,), daemon=True)
        cthread.start()
        i = 0
        while time.monotonic() < stop_at:
            i += 1
            hr = 60 + (i % 80)
            with lock:
                pending[str(hr)] = time.perf_counter()
            code, ack = probe_mllp.exchange(
                probe_oru(fac[0], "PROBE-1", "PROBE0001", f"PRB-{i}", hr, time.time()))
            if code != "AA":
                raise RuntimeError("probe refused: " + ack)
            time.sleep(probe_interval)
        time.sleep(2)
        with lock:
            missed[0] = len([v for v in pending.values() if v < time.perf_counter() - 2])
        cthread.join()
        live.terminate()
        live_out = live.communicate(timeout=30)[0]
        lat = sorted(latencies)
        print(json.dumps({"bench": "icu.live", "backend": backend_name, "beds": beds,
                          "beds_on_census": shown, "load_messages_per_s": beds,
                          "probes": i, "received": len(lat), "missed": missed[0],
                          "p50_ms": round(fl.pct(lat, 50), 1), "p99_ms": round(fl.pct(lat, 99), 1),
                          "max_ms": round(lat[-1], 1) if lat else None,
                          "target_p99_ms": 250}), flush=True)
        cen = sorted(census)
        print(json.dumps({"bench": "icu.census", "backend": backend_name, "beds_on_census": shown,
                          "requests": len(cen), "p50_ms": round(fl.pct(cen, 50), 1),
                          "p95_ms": round(fl.pct(cen, 95), 1), "max_ms": round(cen[-1], 1) if cen else None,
                          "under_load_messages_per_s": beds, "target_p95_ms": 200}), flush=True)
        del live_out
    finally:
        server.stop()


def facility_codes(binary, db_args, data, database_url):
    """Codes of the demo's ICU hospitals (centre first), read from the database."""
    sql = ("SELECT f.code FROM icu_units u JOIN facilities f ON f.id = u.facility_id "
           "ORDER BY CASE WHEN u.code = 'ICU' THEN 0 ELSE 1 END")
    if database_url:
        out = subprocess.run(["psql", database_url, "-At", "-c", sql], capture_output=True,
                             text=True, check=True).stdout
        return out.split()
    import sqlite3
    con = sqlite3.connect(os.path.join(data, "renkei.db"))
    try:
        return [r[0] for r in con.execute(sql)]
    finally:
        con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--beds", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--live-seconds", type=float, default=60)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--probe-interval", type=float, default=0.25)
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    backend = "postgres" if args.database_url else "sqlite"
    try:
        run(args.binary, backend, args.database_url, args.beds, args.rounds, args.live_seconds,
            args.connections, args.probe_interval)
    finally:
        fl.cleanup()


if __name__ == "__main__":
    main()
