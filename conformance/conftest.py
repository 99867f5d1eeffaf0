"""Fixtures of the FHIR conformance suite. conformance/run.sh starts `renkei demo`, signs in
(bootstrap.py), issues a system client with `renkei admin create-api-client`, gets a token
and sets:

    RENKEI_BASE           http://127.0.0.1:PORT
    RENKEI_FHIR_TOKEN     access token of the client (system/*.cruds)
    RENKEI_CLIENT_ID      the client's credentials, for narrower tokens
    RENKEI_CLIENT_SECRET
    RENKEI_SESSION_FILE   the signed-in doctor's session (bootstrap.py)
    RENKEI_FHIR_DUMP      every FHIR JSON body received is written here for Medplum
    RENKEI_MLLP           host:port of the server's MLLP listener
    RENKEI_FACILITY       the code (F000NN) of the hospital the client belongs to

Every FHIR JSON body is also parsed with fhirclient's strict R4 models; a body they refuse
fails the test that received it.
"""

import itertools
import json
import os
import re
import uuid

import pytest
import requests
from fhirclient.models.fhirelementfactory import FHIRElementFactory
from fhirpy import SyncFHIRClient

import renkei_session

FHIR_JSON = "application/fhir+json"
JLAC10 = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits"
HBA1C = "3D046000001906202"
GLUCOSE = "3D010000001926101"
LAB_PROFILE = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_LabResult"

_counter = itertools.count(1)
_model_errors = []


def _test_name():
    current = os.environ.get("PYTEST_CURRENT_TEST", "setup").split(" ")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", current.split("::")[-1])[:60]


def _record(response, *args, **kwargs):
    """Response hook: dump FHIR JSON bodies and parse them with fhirclient's models."""
    kind = response.headers.get("content-type", "")
    if not response.content or not (kind.startswith(FHIR_JSON) or kind.startswith("application/json")):
        return response
    try:
        body = response.json()
    except ValueError:
        return response
    if not isinstance(body, dict) or "resourceType" not in body:
        return response
    dump = os.environ.get("RENKEI_FHIR_DUMP")
    if dump:
        name = f"{next(_counter):04d}-{_test_name()}-{response.request.method}-{response.status_code}.json"
        with open(os.path.join(dump, name), "w", encoding="utf-8") as f:
            json.dump(body, f, ensure_ascii=False)
    try:
        FHIRElementFactory.instantiate(body["resourceType"], body)
    except Exception as e:  # fhirclient raises FHIRValidationError (and others on odd input)
        _model_errors.append(f"{response.request.method} {response.url}: {e}")
    return response


@pytest.fixture(autouse=True)
def _bodies_parse_as_r4_models():
    _model_errors.clear()
    yield
    assert not _model_errors, "fhirclient refused bodies:\n" + "\n".join(_model_errors)


@pytest.fixture(scope="session")
def base():
    return renkei_session.env("RENKEI_BASE").rstrip("/")


@pytest.fixture(scope="session")
def fhir_base(base):
    return f"{base}/fhir"


@pytest.fixture(scope="session")
def token():
    return renkei_session.env("RENKEI_FHIR_TOKEN")


def _session(headers=None):
    s = requests.Session()
    s.headers.update({"Accept": FHIR_JSON, **(headers or {})})
    s.hooks["response"].append(_record)
    return s


@pytest.fixture(scope="session")
def client(fhir_base, token):
    """fhirpy's sync client acting as the hospital's system."""
    return SyncFHIRClient(
        fhir_base,
        authorization=f"Bearer {token}",
        requests_config={"hooks": {"response": [_record]}, "timeout": 30},
    )


class Http:
    """Plain HTTP for what fhirpy hides: status codes, ETag, Location, raw bodies."""

    def __init__(self, fhir_base, session):
        self.base = fhir_base
        self.s = session

    def url(self, path):
        if path.startswith("http"):
            return path
        return f"{self.base}/{path.lstrip('/')}" if path else self.base

    def get(self, path, **kw):
        return self.s.get(self.url(path), timeout=30, **kw)

    def _send(self, method, path, body, headers):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.s.request(
            method,
            self.url(path),
            data=data.encode() if isinstance(data, str) else data,
            headers={"Content-Type": FHIR_JSON, **(headers or {})},
            timeout=30,
        )

    def post(self, path, body, headers=None):
        return self._send("POST", path, body, headers)

    def put(self, path, body, headers=None):
        return self._send("PUT", path, body, headers)

    def delete(self, path, headers=None):
        return self.s.delete(self.url(path), headers=headers or {}, timeout=30)


@pytest.fixture(scope="session")
def http(fhir_base, token):
    return Http(fhir_base, _session({"Authorization": f"Bearer {token}"}))


@pytest.fixture(scope="session")
def anonymous(fhir_base):
    return Http(fhir_base, _session())


@pytest.fixture(scope="session")
def person(base):
    """The signed-in doctor's session (Patient search, registration) and its facts."""
    session, facts = renkei_session.load(renkei_session.env("RENKEI_SESSION_FILE"))
    session.headers["Accept"] = FHIR_JSON
    session.hooks["response"].append(_record)
    return session


@pytest.fixture(scope="session")
def token_for(base):
    """A token of the suite's client limited to `scope`."""

    def issue(scope):
        r = requests.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(renkei_session.env("RENKEI_CLIENT_ID"), renkei_session.env("RENKEI_CLIENT_SECRET")),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    return issue


class Patient:
    def __init__(self, id, system, value):
        self.id = id
        self.reference = f"Patient/{id}"
        self.system = system
        self.value = value
        self.token = f"{system}|{value}"


_patients = itertools.count(1)
_run = uuid.uuid4().hex[:6].upper()


@pytest.fixture(scope="session")
def new_patient(base, person):
    """Registers a fresh patient at the hospital (through its registration page, as the
    doctor) and returns it with its identifier as JP_Patient shows it."""

    def register(family_kanji="適合", given_kanji="試子", family_kana="てきごう", given_kana="ためこ", birth_date=None):
        n = next(_patients)
        local_id = f"CF-{_run}-{n:03d}"
        pid = renkei_session.register_patient(
            person,
            base,
            local_id,
            family_kanji,
            given_kanji,
            family_kana,
            given_kana,
            birth_date or f"19{30 + n:02d}-0{1 + n % 9}-1{n % 10}",
        )
        r = person.get(f"{base}/fhir/Patient/{pid}")
        assert r.status_code == 200, r.text
        ident = [i for i in r.json()["identifier"] if i["value"] == local_id]
        assert len(ident) == 1, r.text
        return Patient(pid, ident[0]["system"], local_id)

    return register


def observation(patient, value, when, code=HBA1C, identifier=None, **extra):
    """A JP Core lab result: HbA1c (or another JLAC10 code) of `patient` at `when`."""
    o = {
        "resourceType": "Observation",
        "meta": {"profile": [LAB_PROFILE]},
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": JLAC10, "code": code, "display": "HbA1c" if code == HBA1C else "グルコース"}]},
        "subject": {"reference": patient.reference},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }
    if identifier:
        o["identifier"] = [{"system": "urn:renkei:conformance:lab-order", "value": identifier}]
    o.update(extra)
    return o


def encounter(patient, start):
    return {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": patient.reference},
        "period": {"start": start},
    }


def condition(patient, code="J189", display="肺炎", encounter_ref=None):
    c = {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": {
            "coding": [
                {"system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full", "code": code, "display": display}
            ]
        },
        "subject": {"reference": patient.reference},
    }
    if encounter_ref:
        c["encounter"] = {"reference": encounter_ref}
    return c


def link(bundle, relation):
    return next((l["url"] for l in bundle.get("link", []) if l["relation"] == relation), None)


def assert_outcome(response, status, code=None):
    """`response` is an OperationOutcome with `status` (and an issue with `code`)."""
    assert response.status_code == status, f"{response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith(FHIR_JSON), response.headers["content-type"]
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    if code:
        assert code in [i["code"] for i in body["issue"]], body
    return body


def count(search):
    """The total of a fhirpy search, with `_summary=count` (fhirpy's own `count()` sends
    Aidbox's `_totalMethod`, which a strict FHIR server refuses)."""
    return search.search(_summary="count").fetch_raw()["total"]
