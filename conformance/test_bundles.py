"""Transaction and batch Bundles, and Patient/$everything."""

import pytest

from conftest import assert_outcome, condition, encounter, observation

ENC = "urn:uuid:6f1c0d4e-2b1a-4c5e-9d7f-000000000001"
COND = "urn:uuid:6f1c0d4e-2b1a-4c5e-9d7f-000000000002"


def transaction(*entries):
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(resource, full_url=None):
    e = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        e["fullUrl"] = full_url
    return e


@pytest.fixture(scope="module")
def patient(new_patient):
    return new_patient()


def test_transaction_resolves_urn_uuid_references(http, patient):
    obs = observation(patient, 6.2, "2026-11-01T10:30:00+09:00")
    obs["encounter"] = {"reference": ENC}
    r = http.post(
        "",
        transaction(
            post(encounter(patient, "2026-11-01T10:00:00+09:00"), ENC),
            post(condition(patient, encounter_ref=ENC), COND),
            post(obs),
        ),
    )
    assert r.status_code == 200, r.text
    response = r.json()
    assert response["type"] == "transaction-response"
    assert [e["response"]["status"][:3] for e in response["entry"]] == ["201", "201", "201"]
    enc_ref = "/".join(response["entry"][0]["response"]["location"].split("/")[-4:-2])
    assert enc_ref.startswith("Encounter/")
    for e in response["entry"][1:]:
        assert e["resource"]["encounter"]["reference"] == enc_ref, "urn:uuid rewritten to the new id"
        stored = http.get("/".join(e["response"]["location"].split("/")[-4:-2])).json()
        assert stored["encounter"]["reference"] == enc_ref
    assert http.get(enc_ref).status_code == 200


def test_transaction_with_one_invalid_entry_stores_nothing(http, new_patient):
    patient = new_patient()
    bad = condition(patient)
    bad["code"] = {"coding": [{"display": "コードなし"}]}  # a coding without code: invalid
    before = http.get("Encounter", params={"patient": patient.id}).json()["total"]
    r = http.post("", transaction(post(encounter(patient, "2026-11-02T10:00:00+09:00"), ENC), post(bad)))
    outcome = assert_outcome(r, r.status_code)
    assert r.status_code in (400, 422), r.text
    assert any("entry[1]" in (i.get("diagnostics", "") + " ".join(i.get("expression", []))) for i in outcome["issue"]), outcome
    assert http.get("Encounter", params={"patient": patient.id}).json()["total"] == before == 0
    assert http.get("Condition", params={"patient": patient.id}).json()["total"] == 0
    # A reference to a full URL not in the Bundle also fails the whole transaction.
    dangling = condition(patient, encounter_ref="urn:uuid:00000000-0000-4000-8000-00000000dead")
    r = http.post("", transaction(post(encounter(patient, "2026-11-02T11:00:00+09:00")), post(dangling)))
    assert r.status_code >= 400, r.text
    assert http.get("Encounter", params={"patient": patient.id}).json()["total"] == 0


def test_batch_runs_entries_independently(http, patient):
    bad = observation(patient, 1.0, "2026-11-03")
    del bad["status"]
    r = http.post(
        "",
        {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                post(observation(patient, 6.9, "2026-11-03")),
                post(bad),
                {"request": {"method": "GET", "url": f"Observation?patient={patient.id}&_count=1"}},
                {"request": {"method": "GET", "url": "Observation/does-not-exist"}},
            ],
        },
    )
    assert r.status_code == 200, r.text
    response = r.json()
    assert response["type"] == "batch-response"
    statuses = [e["response"]["status"][:3] for e in response["entry"]]
    assert statuses[0] == "201"
    assert statuses[1] in ("400", "422")
    assert response["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert statuses[2:] == ["200", "404"]
    assert response["entry"][2]["resource"]["type"] == "searchset"
    created = "/".join(response["entry"][0]["response"]["location"].split("/")[-4:-2])
    assert http.get(created).status_code == 200, "the good entry is stored"


def test_everything(http, client, new_patient):
    patient = new_patient()
    written = []
    for resource in (
        observation(patient, 6.0, "2026-10-10"),
        condition(patient),
        encounter(patient, "2026-10-10T09:00:00+09:00"),
    ):
        r = http.post(resource["resourceType"], resource)
        assert r.status_code == 201, r.text
        written.append(f"{resource['resourceType']}/{r.json()['id']}")
    bundle = client.execute(f"Patient/{patient.id}/$everything", method="get")
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    refs = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]]
    assert refs[0] == patient.reference, "the patient first"
    assert set(written) <= set(refs), refs
    assert len(refs) == len(set(refs))
    assert bundle["total"] == len(refs)
    # Someone else's patient (or nobody) is the same 404.
    assert_outcome(http.get("Patient/0000000000000000000000000000dead/$everything"), 404, "not-found")
