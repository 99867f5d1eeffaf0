"""HL7 v2 over MLLP with python-hl7's MLLPClient: the NHO SS-MIX2 sample messages (ISO-2022-JP)
are acknowledged only once stored, and then read back through the FHIR API as JP Core
resources (which the Medplum step validates too)."""

import os
import pathlib

import hl7.client
import pytest

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "shared/fixtures/ssmix2-nho-sample/storage/999/901/9999013"
LOCAL_ID = "9999013"


def message(relative, facility):
    """A sample message with MSH-4 (sending facility) set to `facility`."""
    folder = FIXTURE / relative
    data = next(folder.iterdir()).read_bytes()
    end = data.index(b"\r")
    fields = data[:end].split(b"|")
    fields[3] = facility.encode()
    return b"|".join(fields) + data[end:]


def exchange(payload):
    host, port = os.environ["RENKEI_MLLP"].rsplit(":", 1)
    with hl7.client.MLLPClient(host, int(port)) as client:
        reply = client.send_message(payload)
    text = reply.strip(b"\x0b\x1c\r").decode("latin-1")
    segments = {s.split("|")[0]: s.split("|") for s in text.split("\r") if s}
    assert "MSA" in segments, text
    return segments["MSA"][1], segments.get("ERR"), text


@pytest.fixture(scope="module")
def facility():
    if not FIXTURE.is_dir():
        pytest.skip(f"SS-MIX2 sample not found at {FIXTURE}")
    return os.environ["RENKEI_FACILITY"]


@pytest.fixture(scope="module")
def stored(facility):
    """Registers the sample patient (ADT^A08), then sends lab results and a prescription."""
    for relative in ["-/ADT-00", "20111220/OML-11", "20110701/OMP-01"]:
        code, err, text = exchange(message(relative, facility))
        assert code == "AA", f"{relative}: {text}"
    return facility


def test_acknowledged_messages_are_readable_as_jp_core(client, stored):
    requests = client.resources("MedicationRequest").search(**{"patient.identifier": LOCAL_ID}).fetch_all()
    assert requests, "the prescription is stored once acknowledged"
    assert all(r["subject"]["reference"].startswith("Patient/") for r in requests)
    labs = client.resources("Observation").search(**{"patient.identifier": LOCAL_ID}).fetch_all()
    assert labs, "lab results are stored"
    systems = {c.get("system") for o in labs for c in o["code"].get("coding", [])}
    assert "http://medis.or.jp/CodeSystem/master-JLAC10-17digits" in systems, systems


def test_a_resent_message_changes_nothing(client, stored):
    before = {
        r["id"]: r["meta"]["versionId"]
        for r in client.resources("MedicationRequest").search(**{"patient.identifier": LOCAL_ID}).fetch_all()
    }
    code, _, text = exchange(message("20110701/OMP-01", stored))
    assert code == "AA", text
    after = {
        r["id"]: r["meta"]["versionId"]
        for r in client.resources("MedicationRequest").search(**{"patient.identifier": LOCAL_ID}).fetch_all()
    }
    assert after == before


def test_an_unmapped_message_type_is_rejected(facility):
    code, err, text = exchange(message("20111013/OMD", facility))
    assert code == "AR", text
    assert err is not None and "200" in "|".join(err), text


def test_an_unknown_sending_facility_is_rejected(facility):
    code, err, text = exchange(message("20110701/OMP-01", "F99999"))
    assert code == "AR", text
    assert "F99999" in text


def test_bytes_that_are_not_hl7_are_rejected(facility):
    code, _, text = exchange(b"this is not an HL7 message")
    assert code == "AR", text
