#!/usr/bin/env python3
"""Cost of the access decision point per read of patient data.

Starts `renkei demo` on a fresh data directory, signs in three members of the core hospital,
reads patient pages (GET /patients/{id}) from three clients for a while, then compares two
histograms the server keeps in /metrics:

  renkei_access_decision_seconds            — the decision point: facts, rule, audit record
  renkei_http_request_duration_seconds{route="/patients/{id}"} — whole requests, server side

Goal (issue): the decision costs < 5 % of request time. Standard library only.
"""
import argparse
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from foundation_load import Server, cleanup, new_tmpdir, run_load, sign_in  # noqa: E402


def metric(text, name, labels=None):
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if labels is None and head == name:
            return float(value)
        if labels is not None and head.startswith(name + "{") and all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/renkei")
    ap.add_argument("--seconds", type=float, default=15)
    args = ap.parse_args()
    try:
        server = Server(args.bin, new_tmpdir("renkei-bench-access-"))
        clients = [sign_in(server, login) for login in ("hospital.doctor", "hospital.nurse", "facility.admin")]
        _, _, page = clients[0].request("GET", "/patients")
        persons = sorted(set(re.findall(r'href="/patients/([0-9a-f]{32})"', page)))
        if not persons:
            raise RuntimeError("the demo hospital lists no patients")
        rng = random.Random(7)

        def read(client, _i):
            status, _, body = client.request("GET", f"/patients/{rng.choice(persons)}")
            return status == 200 and "patient-name" in body

        stats = run_load(clients, args.seconds, read)
        _, _, text = clients[0].request("GET", "/metrics")
        labels = {"method": "GET", "route": "/patients/{id}", "status": "200"}
        decision_sum = metric(text, "renkei_access_decision_seconds_sum")
        decision_count = metric(text, "renkei_access_decision_seconds_count")
        request_sum = metric(text, "renkei_http_request_duration_seconds_sum", labels)
        request_count = metric(text, "renkei_http_request_duration_seconds_count", labels)
        rule_sum = metric(text, "renkei_access_rule_seconds_sum")
        audit_sum = metric(text, "renkei_access_audit_seconds_sum")
        decision_ms = decision_sum / decision_count * 1000
        request_ms = request_sum / request_count * 1000
        share = decision_sum / request_sum * 100
        result = {
            "benchmark": "access_decision", "patients": len(persons), **stats,
            "decision_mean_ms": round(decision_ms, 3), "request_mean_ms_server": round(request_ms, 3),
            "decision_share_percent": round(share, 1), "target_percent": 5,
            "rule_mean_ms": round(rule_sum / decision_count * 1000, 3),
            "audit_mean_ms": round(audit_sum / decision_count * 1000, 3),
            "rule_share_percent": round(rule_sum / request_sum * 100, 1),
            "audit_share_percent": round(audit_sum / request_sum * 100, 1),
        }
        print(f"patient page reads: {stats['rps']} req/s, p50 {stats['p50_ms']} / p95 {stats['p95_ms']} / p99 {stats['p99_ms']} ms, {stats['errors']} errors")
        print(f"access decision: mean {decision_ms:.3f} ms of a {request_ms:.3f} ms request (server side) = {share:.1f} % (target < 5 %: {'met' if share < 5 else 'NOT met'})")
        print(f"  of which facts + rule {result['rule_mean_ms']} ms ({result['rule_share_percent']} %), durable audit append {result['audit_mean_ms']} ms ({result['audit_share_percent']} %)")
        print(json.dumps(result, ensure_ascii=False))
    finally:
        cleanup()


if __name__ == "__main__":
    main()
