"""The 診療情報提供書 as a JP-CLINS eReferral document Bundle (a page route of the signed-in
doctor, not /fhir): the hospital records a problem, an allergy, a prescription and a
laboratory result, writes a referral letter and sends it to the care manager's office; the
Bundle both receive is dumped, so Medplum validates it and every entry (conformance/run.sh).
"""

import renkei_session
from conftest import FHIR_JSON, _record, condition, observation

SECTIONS = "http://jpfhir.jp/fhir/clins/CodeSystem/document-section"


def references(v, out):
    if isinstance(v, dict):
        if isinstance(v.get("reference"), str):
            out.append(v["reference"])
        for child in v.values():
            references(child, out)
    elif isinstance(v, list):
        for item in v:
            references(item, out)
    return out


def form(session, base, path, data):
    data = {"csrf": renkei_session.csrf_of(session.get(f"{base}/account").text), **data}
    r = session.post(f"{base}{path}", data=data, allow_redirects=False)
    assert r.status_code == 303, f"{path}: {r.status_code} {r.text[:500]}"
    return r.headers["location"]


def test_referral_letter_bundle(base, http, person, new_patient):
    patient = new_patient(family_kanji="紹介", given_kanji="状子")
    facts = renkei_session.load(renkei_session.env("RENKEI_SESSION_FILE"))[1]
    office = renkei_session.facility_code(person, base, facts["care_office_name"])
    for body in [
        condition(patient, code="I500", display="うっ血性心不全"),
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}
                ]
            },
            "code": {"text": "ペニシリン"},
            "patient": {"reference": patient.reference},
        },
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "フロセミド錠20mg"},
            "subject": {"reference": patient.reference},
        },
        observation(patient, 6.8, "2026-11-29T09:00:00+09:00"),
    ]:
        r = http.post(body["resourceType"], body)
        assert r.status_code == 201, r.text

    # Consent, the care office in the team, the letter sent there.
    form(person, base, f"/patients/{patient.id}/consent",
         {"scope": "comprehensive", "form": "written", "signer": "patient"})
    form(person, base, f"/patients/{patient.id}/team/invite", {"facility": office})
    cm = renkei_session.sign_in(base, renkei_session.CARE_MANAGER)
    cm.hooks["response"].append(_record)
    form(cm, base, f"/invitations/{patient.id}", {"answer": "accept"})
    location = form(person, base, f"/patients/{patient.id}/documents", {"kind": "referral"})
    letter = location.split("?")[0]
    form(person, base, letter, {
        "version": "1",
        "action": "send",
        "purpose": "在宅療養の継続のため",
        "diagnosis": "うっ血性心不全",
        "medication": "フロセミド錠20mg 1日1回",
        "to": "all",
    })

    for session in (person, cm):
        r = session.get(f"{base}{letter}/bundle", headers={"Accept": FHIR_JSON})
        assert r.status_code == 200, r.text
        bundle = r.json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "document"
        assert bundle["meta"]["profile"] == ["http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_eReferral|1"]
        composition = bundle["entry"][0]["resource"]
        assert composition["type"]["coding"][0]["code"] == "57133-1"
        codes = [s["code"]["coding"][0]["code"] for s in composition["section"]]
        assert codes[:3] == ["910", "920", "300"], codes
        assert all(s["code"]["coding"][0]["system"] == SECTIONS for s in composition["section"])
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        for ref in references(composition, []):
            assert ref in full_urls, ref
        kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
        assert {"Patient", "Practitioner", "Organization", "Condition", "AllergyIntolerance",
                "MedicationRequest", "Observation"} <= kinds, kinds
