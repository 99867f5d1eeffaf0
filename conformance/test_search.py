"""Search: paging links, _sort, date prefixes, tokens, chained parameters, _include and
_revinclude, and PDQm's kana-insensitive Patient name search."""

import pytest

from conftest import GLUCOSE, HBA1C, JLAC10, condition, count, encounter, link, observation

# Eleven results on three dates a month apart, two codes.
DATES = [f"2026-0{m}-{d:02d}T09:00:00+09:00" for m in (1, 2, 3) for d in (5, 15, 25)] + [
    "2026-04-05T09:00:00+09:00",
    "2026-04-15T09:00:00+09:00",
]


@pytest.fixture(scope="module")
def lab(http, new_patient):
    """A patient with eleven lab results, stored in one transaction."""
    patient = new_patient()
    entries = []
    for i, when in enumerate(DATES):
        code = GLUCOSE if i % 4 == 3 else HBA1C
        entries.append(
            {
                "resource": observation(patient, 5.0 + i / 10, when, code=code),
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    r = http.post("", {"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert r.status_code == 200, r.text
    ids = [e["response"]["location"].split("/")[-3] for e in r.json()["entry"]]
    return patient, ids


def test_paging_follows_next_links_until_exhausted(http, lab):
    patient, ids = lab
    url = f"Observation?patient={patient.id}&_count=4"
    seen, totals, pages = [], set(), 0
    while url:
        r = http.get(url)
        assert r.status_code == 200, r.text
        bundle = r.json()
        pages += 1
        assert bundle["type"] == "searchset"
        totals.add(bundle["total"])
        assert link(bundle, "self")
        matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
        assert len(matches) <= 4
        seen += [e["resource"]["id"] for e in matches]
        if pages > 1:
            assert link(bundle, "previous"), bundle["link"]
        url = link(bundle, "next")
        assert pages < 10, "next links never end"
    assert pages == 3
    assert totals == {len(ids)}, "the same total on every page"
    assert len(seen) == len(set(seen)), "no result twice"
    assert set(seen) == set(ids)


def test_fhirpy_iterates_all_pages(client, lab):
    patient, ids = lab
    got = [o.id for o in client.resources("Observation").search(patient=patient.reference).limit(3)]
    assert sorted(got) == sorted(ids)
    assert count(client.resources("Observation").search(patient=patient.reference)) == len(ids)


def test_sort_by_date_both_ways(client, lab):
    patient, _ = lab
    search = client.resources("Observation").search(patient=patient.reference).limit(100)
    ascending = [o.effectiveDateTime for o in search.sort("date").fetch()]
    descending = [o.effectiveDateTime for o in search.sort("-date").fetch()]
    assert ascending == sorted(DATES)
    assert descending == sorted(DATES, reverse=True)


def test_date_prefixes_ge_and_lt(client, lab):
    patient, _ = lab
    search = client.resources("Observation").search(patient=patient.reference)
    got = search.search(date__ge="2026-02-01", date__lt="2026-03-15").sort("date").fetch()
    assert [o.effectiveDateTime[:10] for o in got] == ["2026-02-05", "2026-02-15", "2026-02-25", "2026-03-05"]
    assert count(search.search(date__lt="2026-01-01")) == 0
    assert count(search.search(date__ge="2026-04-15")) == 1
    # A day is a range: eq (the default) finds the result at 09:00 that day.
    assert count(search.search(date="2026-03-25")) == 1


def test_token_system_and_code(client, lab):
    patient, ids = lab
    search = client.resources("Observation").search(patient=patient.reference)
    glucose = sum(1 for i in range(len(DATES)) if i % 4 == 3)
    assert count(search.search(code=f"{JLAC10}|{GLUCOSE}")) == glucose
    assert count(search.search(code=GLUCOSE)) == glucose, "code in any system"
    assert count(search.search(code=f"{JLAC10}|{HBA1C}")) == len(ids) - glucose
    assert count(search.search(code=f"http://loinc.org|{HBA1C}")) == 0, "system must match"
    assert count(search.search(code=f"{JLAC10}|{HBA1C},{JLAC10}|{GLUCOSE}")) == len(ids), "comma is OR"


def test_chained_patient_identifier(client, lab):
    patient, ids = lab
    by_subject = client.resources("Observation").search(subject__Patient__identifier=patient.token)
    assert count(by_subject) == len(ids)
    by_patient = client.resources("Observation").search(patient__identifier=patient.token)
    assert sorted(o.id for o in by_patient.limit(100).fetch()) == sorted(ids)
    nobody = client.resources("Observation").search(patient__identifier=f"{patient.system}|no-such-id")
    assert count(nobody) == 0


def test_include_and_revinclude(http, client, new_patient):
    patient = new_patient()
    enc = http.post("Encounter", encounter(patient, "2026-11-01T10:00:00+09:00")).json()
    cond = http.post("Condition", condition(patient, encounter_ref=f"Encounter/{enc['id']}")).json()
    bundle = http.get("Condition", params={"patient": patient.id, "_include": "Condition:encounter"}).json()
    modes = {(e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"] for e in bundle["entry"]}
    assert modes == {("Condition", cond["id"]): "match", ("Encounter", enc["id"]): "include"}, modes
    assert bundle["total"] == 1, "included resources do not count"

    # Every write has its Provenance; _revinclude=Provenance:target brings it along.
    with_prov = client.resources("Condition").search(_id=cond["id"]).revinclude("Provenance", "target").fetch_raw()
    provs = [e.resource for e in with_prov.entry if e.resource.resourceType == "Provenance"]
    assert len(provs) == 1, with_prov
    assert f"Condition/{cond['id']}" in [t.reference.split("/_history")[0] for t in provs[0].target]
    assert [e.search.mode for e in with_prov.entry if e.resource.resourceType == "Provenance"] == ["include"]


def test_patient_name_search_is_kana_insensitive(person, new_patient, base):
    patient = new_patient(family_kanji="仮名検", given_kanji="索子", family_kana="かなけんさく", given_kana="さくこ")
    for family in ("かなけん", "カナケン", "ｶﾅｹﾝ", "仮名検", "カナケンサク"):
        r = person.get(f"{base}/fhir/Patient", params={"family": family})
        assert r.status_code == 200, r.text
        found = [e["resource"]["id"] for e in r.json().get("entry", [])]
        assert found == [patient.id], f"family={family}: {found}"
    r = person.get(f"{base}/fhir/Patient", params={"family:exact": "かなけん"})
    assert r.json()["total"] == 0, "exact does not fold or match a prefix"
    r = person.get(f"{base}/fhir/Patient", params={"identifier": patient.token})
    assert [e["resource"]["id"] for e in r.json()["entry"]] == [patient.id]
