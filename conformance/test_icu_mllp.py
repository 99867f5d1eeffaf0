"""Tele-ICU monitor messages over MLLP with python-hl7's MLLPClient (a client from outside the
project): both message forms (IHE PCD-01 and Nihon Kohden) for a demo ICU bed are
acknowledged AA only once stored and stored once when resent; an impossible value is dropped
with an ERR warning; a message naming another patient is quarantined with AE and never
attached; a bed taken by another patient refuses an ADT^A01; garbage is rejected with AR.

The demo's support-centre hospital (RENKEI_FACILITY) has ICU beds BED-001… whose patients
are SIM010001…; its own simulator keeps sending for them with current timestamps, so these
tests use observation times in 2030 to tell their values apart."""

import os
import pathlib
import sqlite3

import hl7.client
import pytest

BED, PATIENT = "BED-001", "SIM010001"


def exchange(payload):
    host, port = os.environ["RENKEI_MLLP"].rsplit(":", 1)
    with hl7.client.MLLPClient(host, int(port)) as client:
        reply = client.send_message(payload.encode("utf-8") if isinstance(payload, str) else payload)
    text = reply.strip(b"\x0b\x1c\r").decode("utf-8", "replace")
    segments = [s.split("|") for s in text.split("\r") if s]
    msa = next(s for s in segments if s[0] == "MSA")
    errs = [s for s in segments if s[0] == "ERR"]
    return msa[1], errs, text


def pcd01(facility, control, patient, hr, spo2, at="20300101090000+0900", bed=BED):
    return (
        f"MSH|^~\\&|MONITOR^0012345678ABCDEF^EUI-64|{facility}|RENKEI|CENTRE|{at}||ORU^R01^ORU_R01|{control}|P|2.6|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
        f"PID|||{patient}^^^HOSP^PI\r"
        f"PV1||I|ICU^^{bed}\r"
        f"OBR|1|||182777000^monitoring of patient^SCT|||{at}\r"
        f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{hr}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||{at}\r"
        f"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.2|{spo2}|262688^MDC_DIM_PERCENT^MDC|||||R|||{at}"
    )


def nihon_kohden(facility, control, patient, spo2, at="20300101100000"):
    return (
        f"MSH|^~\\&|CNS|{facility}|RENKEI|C|{at}||ORU^R01|{control}|P|2.4\r"
        f"PID|||{patient}^^^{facility}^PI\r"
        f"PV1||I|^^{BED}\r"
        f"OBR|1|||VITAL|||{at}\r"
        f"OBX|1|NM|007000^VITAL SpO2||{spo2}|%|||||F"
    )


@pytest.fixture(scope="module")
def facility():
    return os.environ["RENKEI_FACILITY"]


@pytest.fixture(scope="module")
def db():
    data = os.environ.get("RENKEI_DATA_DIR")
    if not data:
        pytest.skip("RENKEI_DATA_DIR not set")
    con = sqlite3.connect(f"file:{pathlib.Path(data) / 'renkei.db'}?mode=ro", uri=True)
    yield con
    con.close()


def values_at(db, at_ms):
    return db.execute(
        "SELECT o.item, o.value FROM icu_observations o JOIN icu_stays s ON s.id = o.stay_id "
        "WHERE s.local_id = ? AND s.discharged_at IS NULL AND o.at = ? ORDER BY o.item",
        (PATIENT, at_ms),
    ).fetchall()


AT_0900 = 1893456000000  # 2030-01-01 09:00 JST
AT_1000 = AT_0900 + 3_600_000


def test_pcd01_is_stored_before_aa_and_once(facility, db):
    code, errs, text = exchange(pcd01(facility, "PY-1", PATIENT, 84, 96))
    assert code == "AA", text
    assert values_at(db, AT_0900) == [("hr", 84.0), ("spo2", 96.0)]
    code, _, text = exchange(pcd01(facility, "PY-1", PATIENT, 84, 96))
    assert code == "AA", text
    assert len(values_at(db, AT_0900)) == 2


def test_nihon_kohden_form_is_stored(facility, db):
    code, errs, text = exchange(nihon_kohden(facility, "PY-2", PATIENT, 95))
    assert code == "AA", text
    assert values_at(db, AT_1000) == [("spo2", 95.0)]


def test_impossible_value_is_dropped_with_a_warning(facility, db):
    at = "20300101091500+0900"
    code, errs, text = exchange(pcd01(facility, "PY-3", PATIENT, 90, 140, at=at))
    assert code == "AA", text
    assert any("W" in e for e in errs), text
    assert values_at(db, AT_0900 + 900_000) == [("hr", 90.0)]


def test_another_patients_id_is_quarantined_not_attached(facility, db):
    at = "20300101093000+0900"
    code, errs, text = exchange(pcd01(facility, "PY-4", "NOT-THIS-PATIENT", 41, 95, at=at))
    assert code == "AE", text
    assert "quarantined" in text, text
    assert values_at(db, AT_0900 + 1_800_000) == []
    reason = db.execute("SELECT reason FROM icu_quarantine WHERE control_id = 'PY-4'").fetchone()
    assert reason and "disagrees" in reason[0], reason


def test_admitting_into_an_occupied_bed_is_refused(facility):
    adt = (
        f"MSH|^~\\&|ADT|{facility}|RENKEI|C|20300101080000||ADT^A01^ADT_A01|PY-5|P|2.5|||||||UNICODE UTF-8\r"
        "EVN|A01|20300101080000\r"
        "PID|||PY-OTHER^^^HOSP^PI||試験^次郎^^^^^L^I~シケン^ジロウ^^^^^L^P||19700101|M\r"
        f"PV1||I|ICU^^{BED}"
    )
    code, errs, text = exchange(adt)
    assert code == "AE", text
    assert "another patient" in text, text


def test_garbage_is_rejected(facility):
    code, errs, text = exchange("this is not HL7")
    assert code == "AR", text


def test_vital_signs_written_as_fhir_reach_the_icu_bed(http, db, base, person):
    """A heart rate and a blood-pressure panel posted as FHIR Observations by the hospital's
    system about the patient in BED-001 become that bed's data (source `fhir`)."""
    # Patient search (PDQm) is for signed-in people; the doctor finds the FHIR id.
    found = person.get(f"{base}/fhir/Patient", params={"identifier": PATIENT}).json()
    assert found.get("entry"), found
    patient = found["entry"][0]["resource"]["id"]
    vital = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}
    heart = {
        "resourceType": "Observation",
        "status": "final",
        "category": [vital],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2030-01-01T11:00:00+09:00",
        "valueQuantity": {"value": 66, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    r = http.post("Observation", heart)
    assert r.status_code == 201, r.text
    pressure = {
        "resourceType": "Observation",
        "status": "final",
        "category": [vital],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2030-01-01T11:00:00+09:00",
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 16, "unit": "kPa", "system": "http://unitsofmeasure.org", "code": "kPa"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueQuantity": {"value": 70, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        ],
    }
    r = http.post("Observation", pressure)
    assert r.status_code == 201, r.text
    rows = db.execute(
        "SELECT o.item, ROUND(o.value, 1), o.source FROM icu_observations o JOIN icu_stays s ON s.id = o.stay_id "
        "WHERE s.local_id = ? AND s.discharged_at IS NULL AND o.at = ? ORDER BY o.item",
        (PATIENT, AT_0900 + 2 * 3_600_000),
    ).fetchall()
    assert rows == [("dbp", 70.0, "fhir"), ("hr", 66.0, "fhir"), ("sbp", 120.0, "fhir")], rows
