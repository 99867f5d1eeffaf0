"""Create, read, update with ETags, conditional create and update, delete, history."""

import pytest
from fhirclient.models.observation import Observation
from fhirpy.base.exceptions import ResourceNotFound

from conftest import FHIR_JSON, assert_outcome, count, observation


@pytest.fixture(scope="module")
def patient(new_patient):
    return new_patient()


def test_create_answers_201_with_etag_and_location(http, patient, fhir_base):
    r = http.post("Observation", observation(patient, 6.8, "2026-10-01T09:00:00+09:00"))
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON)
    created = r.json()
    assert r.headers["etag"] == 'W/"1"'
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["lastUpdated"]
    assert r.headers["location"] == f"{fhir_base}/Observation/{created['id']}/_history/1"
    read = http.get(f"Observation/{created['id']}")
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"1"'
    assert "last-modified" in read.headers
    assert read.json() == created
    # The body is a valid R4 Observation for fhirclient's strict model.
    assert Observation(read.json()).valueQuantity.value == 6.8


def test_fhirpy_create_and_read(client, patient):
    obs = client.resource("Observation", **observation(patient, 7.0, "2026-10-02"))
    obs.save()
    assert obs.id and obs.meta.versionId == "1"
    again = client.reference("Observation", obs.id).to_resource()
    assert again.valueQuantity.value == 7.0
    assert again.subject.reference == patient.reference


def test_update_with_stale_if_match_is_412(http, patient):
    created = http.post("Observation", observation(patient, 6.1, "2026-09-01")).json()
    oid = created["id"]
    changed = dict(created, valueQuantity=dict(created["valueQuantity"], value=6.3))
    r = http.put(f"Observation/{oid}", changed, {"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == 'W/"2"'
    assert r.json()["meta"]["versionId"] == "2"
    stale = http.put(f"Observation/{oid}", dict(changed, status="amended"), {"If-Match": 'W/"1"'})
    outcome = assert_outcome(stale, 412, "conflict")
    assert outcome["issue"][0]["severity"] == "error"
    assert http.get(f"Observation/{oid}").json()["meta"]["versionId"] == "2", "nothing changed"
    # An id in the body that differs from the URL is refused.
    assert_outcome(http.put(f"Observation/{oid}", dict(changed, id="other")), 400)


def test_conditional_create_returns_the_existing_resource(http, patient):
    body = observation(patient, 5.9, "2026-08-01", identifier="order-0001")
    cond = {"If-None-Exist": "identifier=urn:renkei:conformance:lab-order|order-0001"}
    first = http.post("Observation", body, cond)
    assert first.status_code == 201, first.text
    second = http.post("Observation", dict(body, valueQuantity=dict(body["valueQuantity"], value=9.9)), cond)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["valueQuantity"]["value"] == 5.9, "the stored one, unchanged"
    found = http.get(
        "Observation", params={"identifier": "urn:renkei:conformance:lab-order|order-0001"}
    ).json()
    assert found["total"] == 1, found


def test_conditional_update(client, patient):
    search = client.resources("Observation").search(identifier="urn:renkei:conformance:lab-order|order-0002")
    body = observation(patient, 6.0, "2026-07-01", identifier="order-0002")
    created, was_created = search.update(client.resource("Observation", **body))
    assert was_created
    updated, was_created = search.update(
        client.resource("Observation", **dict(body, valueQuantity=dict(body["valueQuantity"], value=6.4)))
    )
    assert not was_created
    assert updated.id == created.id
    assert updated.meta.versionId == "2"
    assert count(search) == 1


def test_delete_then_gone(http, client, patient):
    created = http.post("Observation", observation(patient, 6.6, "2026-06-01")).json()
    oid = created["id"]
    r = http.delete(f"Observation/{oid}")
    assert r.status_code == 204, r.text
    assert r.headers["etag"] == 'W/"2"'
    assert_outcome(http.get(f"Observation/{oid}"), 410, "deleted")
    with pytest.raises(ResourceNotFound):
        client.reference("Observation", oid).to_resource()
    assert http.delete(f"Observation/{oid}").status_code == 204, "deleting again is harmless"
    # The deleted version is in the history; the older one can still be read.
    history = http.get(f"Observation/{oid}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]
    assert http.get(f"Observation/{oid}/_history/1").status_code == 200
    assert http.get("Observation", params={"_id": oid}).json()["total"] == 0


def test_instance_history_newest_first(http, patient):
    created = http.post("Observation", observation(patient, 5.0, "2026-05-01")).json()
    oid = created["id"]
    current = created
    for value in (5.1, 5.2):
        current = http.put(
            f"Observation/{oid}",
            dict(current, valueQuantity=dict(current["valueQuantity"], value=value)),
            {"If-Match": f'W/"{current["meta"]["versionId"]}"'},
        ).json()
    history = http.get(f"Observation/{oid}/_history").json()
    assert history["type"] == "history"
    assert history.get("total", 3) == 3, "total, when given, counts every version"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["3", "2", "1"]
    assert [e["resource"]["valueQuantity"]["value"] for e in history["entry"]] == [5.2, 5.1, 5.0]
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "PUT", "POST"]
    for version in ("1", "2", "3"):
        v = http.get(f"Observation/{oid}/_history/{version}")
        assert v.status_code == 200
        assert v.json()["meta"]["versionId"] == version
        assert v.headers["etag"] == f'W/"{version}"'
    assert_outcome(http.get(f"Observation/{oid}/_history/4"), 404, "not-found")


def test_type_history_newest_first(http, patient):
    a = http.post("Observation", observation(patient, 4.0, "2026-04-01")).json()
    b = http.post("Observation", observation(patient, 4.1, "2026-04-02")).json()
    b2 = http.put(f"Observation/{b['id']}", dict(b, status="amended")).json()
    history = http.get("Observation/_history", params={"_count": 3}).json()
    assert history.get("total", 0) != 3, "a page's length is not the history's total"
    firsts = [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in history["entry"]]
    assert firsts == [(b["id"], "2"), (b["id"], "1"), (a["id"], "1")], firsts
    assert b2["meta"]["versionId"] == "2"
    modified = [e["response"]["lastModified"] for e in history["entry"]]
    assert modified == sorted(modified, reverse=True)
    # Paging through the type history: pages join without repeats.
    nxt = [l["url"] for l in history["link"] if l["relation"] == "next"]
    assert nxt, history["link"]
    page2 = http.get(nxt[0]).json()
    seen = {(e["fullUrl"], e["response"]["etag"]) for e in history["entry"]}
    assert not seen & {(e["fullUrl"], e["response"]["etag"]) for e in page2["entry"]}
