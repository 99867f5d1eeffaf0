"""PIXm Patient Identity Feed (ITI-104): the hospital's system registers and updates its own
patients with a conditional update on Patient, as an IHE PIXm source would."""

import uuid


def jp_patient(system, value, phone="0144-32-0000"):
    return {
        "resourceType": "Patient",
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"]},
        "identifier": [{"system": system, "value": value}],
        "name": [
            {
                "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE"}],
                "use": "official",
                "text": "連携 花子",
                "family": "連携",
                "given": ["花子"],
            },
            {
                "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}],
                "use": "official",
                "text": "レンケイ ハナコ",
                "family": "レンケイ",
                "given": ["ハナコ"],
            },
        ],
        "gender": "female",
        "birthDate": "1948-03-09",
        "telecom": [{"system": "phone", "value": phone, "use": "home"}],
    }


def test_feed_creates_then_updates_the_facilitys_own_registration(http, new_patient):
    # The facility's local-ID system, as its registrations show it.
    system = new_patient().system
    value = f"FEED-{uuid.uuid4().hex[:8].upper()}"
    url = f"Patient?identifier={system}|{value}"

    created = http.put(url, jp_patient(system, value))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["resourceType"] == "Patient"
    assert any(i["value"] == value for i in body["identifier"])
    assert f"/Patient/{body['id']}" in created.headers["Location"]

    again = http.put(url, jp_patient(system, value))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == body["id"]

    moved = http.put(url, jp_patient(system, value, phone="0144-32-9999"))
    assert moved.status_code == 200, moved.text
    assert any(t.get("value") == "0144-32-9999" for t in moved.json().get("telecom", []))


def test_feed_refuses_impossible_content(http, new_patient):
    system = new_patient().system
    value = f"FEED-{uuid.uuid4().hex[:8].upper()}"
    bad = jp_patient(system, value)
    bad["birthDate"] = "2999-01-01"
    r = http.put(f"Patient?identifier={system}|{value}", bad)
    assert r.status_code == 422, r.text
    assert r.json()["resourceType"] == "OperationOutcome"


def test_feed_for_another_facilitys_system_is_refused(http):
    r = http.put(
        "Patient?identifier=urn:oid:1.2.392.100495.20.3.51.19999999999|X1",
        jp_patient("urn:oid:1.2.392.100495.20.3.51.19999999999", "X1"),
    )
    assert r.status_code in (403, 422), r.text
    assert r.json()["resourceType"] == "OperationOutcome"
