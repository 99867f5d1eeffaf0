"""AuditEvent is read-only: the hospital's own system reads its facility's trail."""


def test_the_trail_reads_as_audit_events(client, http):
    events = client.resources("AuditEvent").search(_count=20).limit(20).fetch()
    assert events, "the client's own token issuance is at least one record"
    for e in events:
        assert e["subtype"][0]["system"] == "urn:renkei:audit-action"
        assert e["action"] in {"C", "R", "U", "D", "E"}
        assert e["outcome"] in {"0", "4", "8"}
    one = http.get(f"AuditEvent/{events[0]['id']}")
    assert one.status_code == 200
    assert one.json()["id"] == events[0]["id"]


def test_the_trail_cannot_be_written(http):
    r = http.post("AuditEvent", {"resourceType": "AuditEvent"})
    assert r.status_code == 405
    assert r.json()["resourceType"] == "OperationOutcome"
