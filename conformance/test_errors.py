"""Errors are OperationOutcomes with the right status; scopes and authentication hold."""

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError

from conftest import assert_outcome, condition, count, observation


@pytest.fixture(scope="module")
def patient(new_patient):
    return new_patient()


def test_unknown_resource_type(http):
    assert_outcome(http.get("Spaceship"), 404, "not-supported")
    assert_outcome(http.post("Spaceship", {"resourceType": "Spaceship"}), 404, "not-supported")


def test_invalid_json(http):
    assert_outcome(http.post("Observation", b'{"resourceType": "Observation", '), 400, "structure")
    assert_outcome(http.post("", b"not json"), 400, "structure")


def test_wrong_resource_type_in_body(http, patient):
    assert_outcome(http.post("Condition", observation(patient, 6.0, "2026-01-01")), 400, "invalid")


def test_missing_subject(http, patient):
    body = observation(patient, 6.0, "2026-01-01")
    del body["subject"]
    outcome = assert_outcome(http.post("Observation", body), 422, "required")
    assert any("Observation.subject" in e for i in outcome["issue"] for e in i.get("expression", [])), outcome


def test_unknown_patient(http):
    body = condition(type("P", (), {"reference": "Patient/0000000000000000000000000000dead"})())
    assert_outcome(http.post("Condition", body), 422, "processing")


def test_urn_uuid_reference_outside_a_transaction(http, patient):
    # Nothing resolves it: refused, rather than stored dangling (or without its patient).
    body = observation(patient, 6.0, "2026-01-01")
    body["encounter"] = {"reference": "urn:uuid:6f1c0d4e-2b1a-4c5e-9d7f-0000000000aa"}
    assert_outcome(http.post("Observation", body), 422, "processing")
    body = observation(patient, 6.0, "2026-01-01")
    body["subject"] = {"reference": "urn:uuid:6f1c0d4e-2b1a-4c5e-9d7f-0000000000ab"}
    assert http.post("Observation", body).status_code in (400, 422)


def test_conditional_create_with_several_matches_is_412(http, patient):
    body = observation(patient, 6.0, "2026-01-02", identifier="twice")
    for _ in range(2):
        assert http.post("Observation", body).status_code == 201
    cond = {"If-None-Exist": "identifier=urn:renkei:conformance:lab-order|twice"}
    assert_outcome(http.post("Observation", body, cond), 412, "multiple-matches")


def test_unknown_search_parameter(http, patient):
    assert_outcome(http.get("Observation", params={"flavour": "salty"}), 400)
    lenient = http.get("Observation", params={"flavour": "salty", "patient": patient.id}, headers={"Prefer": "handling=lenient"})
    assert lenient.status_code == 200, lenient.text


def test_without_token_is_401(anonymous):
    assert_outcome(anonymous.get("Observation"), 401, "login")
    assert_outcome(anonymous.s.get(anonymous.url("Observation"), headers={"Authorization": "Bearer forged"}), 401, "login")


def test_token_without_the_scope_is_403(fhir_base, token_for, patient):
    read_only = token_for("system/Observation.rs")
    narrow = SyncFHIRClient(fhir_base, authorization=f"Bearer {read_only}")
    assert count(narrow.resources("Observation").search(patient=patient.reference)) >= 0
    with pytest.raises(ForbiddenError):
        narrow.resource("Observation", **observation(patient, 6.0, "2026-01-01")).save()
    with pytest.raises(ForbiddenError):
        narrow.resources("Condition").search(patient=patient.reference).fetch()


def test_forbidden_is_an_operation_outcome(anonymous, token_for, patient):
    read_only = token_for("system/Observation.rs")
    r = anonymous.s.post(
        anonymous.url("Condition"),
        json=condition(patient),
        headers={"Authorization": f"Bearer {read_only}", "Content-Type": "application/fhir+json"},
    )
    assert_outcome(r, 403, "forbidden")


def test_capability_statement(anonymous):
    r = anonymous.get("metadata")
    assert r.status_code == 200
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
