use crate::query::parse;
use crate::resource::{Issue, Severity};
use crate::search::{
    date_matches, extract, parse_search, Chain, Comparator, Criterion, Include, IndexValue,
    ParsedSearch, SortKey, StringMode, ValueMatch, DEFAULT_COUNT, MAX_COUNT,
};
use serde_json::json;

const NOW: &str = "2025-01-01T00:00:00Z";

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ok(ty: &str, q: &[(&str, &str)]) -> ParsedSearch {
    match parse(ty, &pairs(q), false, ms(NOW)) {
        Ok((p, _)) => p,
        Err(e) => panic!("{q:?}: {e:#?}"),
    }
}

fn err(ty: &str, q: &[(&str, &str)]) -> Vec<Issue> {
    match parse(ty, &pairs(q), false, ms(NOW)) {
        Ok((p, _)) => panic!("{q:?} should fail: {p:#?}"),
        Err(e) => {
            assert!(e
                .iter()
                .all(|i| i.severity == Severity::Error && !i.ja.is_empty() && !i.en.is_empty()));
            e
        }
    }
}

fn one(ty: &str, key: &str, value: &str) -> Criterion {
    let p = ok(ty, &[(key, value)]);
    assert_eq!(p.query.criteria.len(), 1, "{key}={value}");
    p.query.criteria[0].clone()
}

fn first(ty: &str, key: &str, value: &str) -> ValueMatch {
    one(ty, key, value).any_of[0].clone()
}

#[test]
fn defaults() {
    let p = ok("Observation", &[]);
    assert_eq!(p.query.resource_type, "Observation");
    assert_eq!(p.query.count, DEFAULT_COUNT);
    assert_eq!(p.query.offset, 0);
    assert!(p.query.want_total);
    assert!(p.query.criteria.is_empty() && p.query.ids.is_empty());
    assert!(!p.summary_count);
    // The public entry point uses the clock; same result for clock-free parameters.
    let (q, w) = parse_search("Observation", &pairs(&[("code", "x")]), false).unwrap();
    assert!(w.is_empty());
    assert_eq!(q.query.criteria.len(), 1);
    assert_eq!(err("Medication", &[])[0].code, "not-supported");
}

#[test]
fn token_forms() {
    let tok = |system: Option<&str>, code: &str| ValueMatch::Token {
        system: system.map(str::to_string),
        code: code.to_string(),
    };
    assert_eq!(first("Observation", "code", "4548-4"), tok(None, "4548-4"));
    assert_eq!(
        first("Observation", "code", "http://loinc.org|4548-4"),
        tok(Some("http://loinc.org"), "4548-4")
    );
    assert_eq!(
        first("Observation", "code", "|4548-4"),
        tok(Some(""), "4548-4")
    );
    assert_eq!(
        first("Observation", "code", "http://loinc.org|"),
        tok(Some("http://loinc.org"), "")
    );
    // Escapes: a comma and a bar inside a value.
    assert_eq!(first("Observation", "code", r"a\,b\|c"), tok(None, "a,b|c"));
    // OR
    let c = one("Observation", "status", "final,amended");
    assert_eq!(c.any_of, vec![tok(None, "final"), tok(None, "amended")]);
    // :not
    let c = one("Observation", "status:not", "cancelled");
    assert!(c.negate);
    assert_eq!(c.any_of, vec![tok(None, "cancelled")]);
    // bad forms
    err("Observation", &[("code", "|")]);
    err("Observation", &[("code", "a|b|c")]);
    err("Observation", &[("code", "a,")]);
    // :not is for tokens only, :exact for strings only.
    assert_eq!(
        err("Patient", &[("name:not", "x")])[0].code,
        "not-supported"
    );
    assert_eq!(
        err("Observation", &[("code:exact", "x")])[0].code,
        "not-supported"
    );
    assert_eq!(
        err("Observation", &[("code:text", "HbA1c")])[0].code,
        "not-supported"
    );
    assert_eq!(
        err("Observation", &[("code:in", "http://vs")])[0].code,
        "not-supported"
    );
}

#[test]
fn token_matching() {
    let stored = IndexValue::Token {
        system: "http://loinc.org".into(),
        code: "4548-4".into(),
    };
    let no_system = IndexValue::Token {
        system: String::new(),
        code: "final".into(),
    };
    let m = |v: &str| first("Observation", "code", v);
    assert!(m("4548-4").matches(&stored));
    assert!(m("http://loinc.org|4548-4").matches(&stored));
    assert!(m("http://loinc.org|").matches(&stored));
    assert!(!m("|4548-4").matches(&stored));
    assert!(m("|final").matches(&no_system));
    assert!(!m("http://other|").matches(&stored));
    assert!(!m("4548").matches(&stored));
    let not = one("Observation", "status:not", "final");
    assert!(!not.matches(std::slice::from_ref(&no_system)));
    assert!(not.matches(&[]));
}

#[test]
fn strings_and_modifiers() {
    assert_eq!(
        first("Patient", "name", "やまだ"),
        ValueMatch::String {
            value: "ヤマダ".into(),
            mode: StringMode::Prefix
        }
    );
    assert_eq!(
        first("Patient", "family:exact", "ﾔﾏﾀﾞ"),
        ValueMatch::String {
            value: "ヤマダ".into(),
            mode: StringMode::Exact
        }
    );
    assert_eq!(
        first("Patient", "address:contains", "苫小牧"),
        ValueMatch::String {
            value: "苫小牧".into(),
            mode: StringMode::Contains
        }
    );
    err("Patient", &[("name", "   ")]);
    let stored = IndexValue::String("ヤマダタロウ".into());
    assert!(first("Patient", "name", "やまだ").matches(&stored));
    assert!(!first("Patient", "name:exact", "やまだ").matches(&stored));
    assert!(first("Patient", "name:exact", "やまだ たろう").matches(&stored));
    assert!(first("Patient", "name:contains", "タロ").matches(&stored));
    assert!(!first("Patient", "name", "タロ").matches(&stored));
}

#[test]
fn missing() {
    for (key, kind) in [
        ("code:missing", "token"),
        ("subject:missing", "reference"),
        ("date:missing", "date"),
        ("value-quantity:missing", "quantity"),
    ] {
        let c = one("Observation", key, "true");
        assert_eq!(c.missing, Some(true), "{kind}");
        assert!(c.any_of.is_empty() && !c.negate);
        assert!(c.matches(&[]));
        let c = one("Observation", key, "false");
        assert_eq!(c.missing, Some(false));
        assert!(!c.matches(&[]));
    }
    assert_eq!(
        err("Observation", &[("code:missing", "yes")])[0].code,
        "value"
    );
}

#[test]
fn references() {
    let r = |s: &str| ValueMatch::Reference(s.into());
    assert_eq!(
        one("Observation", "patient", "p1").any_of,
        vec![r("Patient/p1")]
    );
    assert_eq!(
        one("Observation", "patient", "Patient/p1").any_of,
        vec![r("Patient/p1")]
    );
    assert_eq!(
        one(
            "Observation",
            "subject",
            "https://renkei.example.jp/fhir/Patient/p1"
        )
        .any_of,
        vec![r("Patient/p1")]
    );
    assert_eq!(
        one("Observation", "subject", "Patient/p1/_history/2").any_of,
        vec![r("Patient/p1")]
    );
    assert_eq!(
        one("Observation", "encounter", "e1").any_of,
        vec![r("Encounter/e1")]
    );
    // A bare id of a multi-target parameter: one value per target.
    assert_eq!(
        one("Observation", "subject", "x1").any_of,
        vec![
            r("Patient/x1"),
            r("Group/x1"),
            r("Device/x1"),
            r("Location/x1")
        ]
    );
    // :Type
    assert_eq!(
        one("Observation", "subject:Patient", "p1").any_of,
        vec![r("Patient/p1")]
    );
    assert_eq!(
        one("Observation", "subject:Patient", "Patient/p1").any_of,
        vec![r("Patient/p1")]
    );
    err("Observation", &[("subject:Patient", "Group/g1")]);
    err("Observation", &[("subject:Encounter", "e1")]);
    err("Observation", &[("subject", "Encounter/e1")]);
    err("Observation", &[("patient", "Group/g1")]);
    err("Observation", &[("patient", "a b")]);
    // Provenance.target accepts any type but needs it named.
    assert_eq!(
        one("Provenance", "target", "Observation/o1").any_of,
        vec![r("Observation/o1")]
    );
    assert_eq!(
        one("Provenance", "target:Condition", "c1").any_of,
        vec![r("Condition/c1")]
    );
    err("Provenance", &[("target", "o1")]);
    // OR of references.
    assert_eq!(one("Observation", "patient", "p1,p2").any_of.len(), 2);
    assert!(r("Patient/p1").matches(&IndexValue::Reference("Patient/p1".into())));
    assert!(!r("Patient/p1").matches(&IndexValue::Reference("Patient/p10".into())));
}

#[test]
fn dates_every_precision_and_zone() {
    let d = |v: &str| match first("Observation", "date", v) {
        ValueMatch::Date {
            comparator,
            low,
            high,
        } => (comparator, low, high),
        other => panic!("{other:?}"),
    };
    use Comparator::*;
    // Without a zone: Japan time (UTC+09:00), whatever the precision.
    assert_eq!(
        d("2024"),
        (
            Eq,
            ms("2024-01-01T00:00:00+09:00"),
            ms("2025-01-01T00:00:00+09:00")
        )
    );
    assert_eq!(
        d("2024-02"),
        (
            Eq,
            ms("2024-02-01T00:00:00+09:00"),
            ms("2024-03-01T00:00:00+09:00")
        )
    );
    assert_eq!(
        d("2024-05-01"),
        (
            Eq,
            ms("2024-05-01T00:00:00+09:00"),
            ms("2024-05-02T00:00:00+09:00")
        )
    );
    assert_eq!(
        d("2024-05-01T09:30"),
        (
            Eq,
            ms("2024-05-01T09:30:00+09:00"),
            ms("2024-05-01T09:31:00+09:00")
        )
    );
    assert_eq!(
        d("2024-05-01T09:30:15"),
        (
            Eq,
            ms("2024-05-01T09:30:15+09:00"),
            ms("2024-05-01T09:30:16+09:00")
        )
    );
    assert_eq!(
        d("2024-05-01T09:30:15.5Z"),
        (
            Eq,
            ms("2024-05-01T09:30:15.500Z"),
            ms("2024-05-01T09:30:15.501Z")
        )
    );
    assert_eq!(
        d("2024-05-01T09:30:00+09:00"),
        (Eq, ms("2024-05-01T00:30:00Z"), ms("2024-05-01T00:30:01Z"))
    );
    assert_eq!(
        d("2024-05-01T09:30-03:00"),
        (Eq, ms("2024-05-01T12:30:00Z"), ms("2024-05-01T12:31:00Z"))
    );
    for (prefix, c) in [
        ("eq", Eq),
        ("ne", Ne),
        ("gt", Gt),
        ("lt", Lt),
        ("ge", Ge),
        ("le", Le),
        ("sa", Sa),
        ("eb", Eb),
    ] {
        assert_eq!(
            d(&format!("{prefix}2024-05-01")),
            (
                c,
                ms("2024-05-01T00:00:00+09:00"),
                ms("2024-05-02T00:00:00+09:00")
            )
        );
        assert_eq!(c.prefix(), prefix);
        assert_eq!(Comparator::from_prefix(prefix), Some(c));
    }
    // ap: widened by a tenth of the distance from now (2025-01-01) on each side.
    let (c, low, high) = d("ap2024-01-01");
    let day_low = ms("2024-01-01T00:00:00+09:00");
    let day_high = ms("2024-01-02T00:00:00+09:00");
    let widen = (ms(NOW) - day_high) / 10;
    assert_eq!((c, low, high), (Ap, day_low - widen, day_high + widen));
    // Bad values.
    for bad in [
        "2023-02-30",
        "xx2024",
        "2024-5",
        "ge",
        "2024-05-01T25:00",
        "today",
    ] {
        let e = err("Observation", &[("date", bad)]);
        assert_eq!(e[0].code, "value", "{bad}");
    }
    assert!(err("Observation", &[("date", "2023-02-30")])[0]
        .ja
        .contains("暦"));
}

#[test]
fn date_comparator_semantics() {
    use Comparator::*;
    let (sl, sh) = (ms("2024-05-01T00:00:00Z"), ms("2024-05-02T00:00:00Z"));
    let inside = (ms("2024-05-01T10:00:00Z"), ms("2024-05-01T10:00:01Z"));
    let before = (ms("2024-04-30T10:00:00Z"), ms("2024-04-30T10:00:01Z"));
    let after = (ms("2024-05-03T10:00:00Z"), ms("2024-05-03T10:00:01Z"));
    let straddle = (ms("2024-04-30T00:00:00Z"), ms("2024-05-01T12:00:00Z"));
    let open = (ms("2024-04-01T00:00:00Z"), i64::MAX);
    let m = |c, v: (i64, i64)| date_matches(c, sl, sh, v.0, v.1);
    assert!(m(Eq, inside) && !m(Eq, before) && !m(Eq, straddle) && !m(Eq, open));
    assert!(!m(Ne, inside) && m(Ne, before) && m(Ne, straddle));
    assert!(m(Gt, after) && !m(Gt, inside) && !m(Gt, before) && m(Gt, open));
    assert!(m(Lt, before) && !m(Lt, inside) && m(Lt, straddle) && !m(Lt, after));
    assert!(m(Ge, inside) && m(Ge, after) && m(Ge, straddle) && !m(Ge, before));
    assert!(m(Le, inside) && m(Le, before) && !m(Le, after));
    assert!(m(Sa, after) && !m(Sa, inside) && !m(Sa, open));
    assert!(m(Eb, before) && !m(Eb, straddle) && !m(Eb, inside));
    assert!(m(Ap, inside) && m(Ap, straddle) && !m(Ap, before));
    // Through ValueMatch against an extracted index value.
    let obs =
        json!({"resourceType": "Observation", "effectiveDateTime": "2024-05-01T19:00:00+09:00"});
    let stored = extract(&obs)
        .into_iter()
        .find(|e| e.param == "date")
        .unwrap()
        .value;
    assert!(first("Observation", "date", "2024-05-01").matches(&stored));
    assert!(first("Observation", "date", "ge2024-05-01T10:00:00Z").matches(&stored));
    assert!(!first("Observation", "date", "2024-05-02").matches(&stored));
    assert!(!first("Observation", "date", "gt2024-05-01").matches(&stored));
}

#[test]
fn a_zone_less_search_date_is_the_japanese_day() {
    // 08:00 in Japan is 23:00 UTC the day before: the record belongs to 1 May, not 30 April.
    let obs =
        json!({"resourceType": "Observation", "effectiveDateTime": "2026-05-01T08:00:00+09:00"});
    let stored = extract(&obs)
        .into_iter()
        .find(|e| e.param == "date")
        .unwrap()
        .value;
    assert_eq!(
        stored,
        IndexValue::Date {
            low: ms("2026-04-30T23:00:00Z"),
            high: ms("2026-04-30T23:00:01Z")
        }
    );
    assert!(first("Observation", "date", "2026-05-01").matches(&stored));
    assert!(!first("Observation", "date", "2026-04-30").matches(&stored));
}

#[test]
fn quantities() {
    let q = |v: &str| first("Observation", "value-quantity", v);
    assert_eq!(
        q("6.2"),
        ValueMatch::Number {
            comparator: Comparator::Eq,
            value: 6.2,
            system: None,
            code: None
        }
    );
    assert_eq!(
        q("ge6.5|http://unitsofmeasure.org|%"),
        ValueMatch::Number {
            comparator: Comparator::Ge,
            value: 6.5,
            system: Some("http://unitsofmeasure.org".into()),
            code: Some("%".into())
        }
    );
    assert_eq!(
        q("lt1e2||mg/dL"),
        ValueMatch::Number {
            comparator: Comparator::Lt,
            value: 100.0,
            system: None,
            code: Some("mg/dL".into())
        }
    );
    for bad in ["abc", "6.2|%", "ge", "NaN", "inf", "6.2|a|b|c"] {
        assert_eq!(
            err("Observation", &[("value-quantity", bad)])[0].code,
            "value",
            "{bad}"
        );
    }
    let stored = IndexValue::Number {
        value: 6.2,
        system: "http://unitsofmeasure.org".into(),
        code: "%".into(),
    };
    assert!(q("6.2").matches(&stored));
    assert!(q("gt6").matches(&stored));
    assert!(q("sa6").matches(&stored));
    assert!(!q("lt6").matches(&stored));
    assert!(q("eb7").matches(&stored));
    assert!(q("le6.2").matches(&stored));
    assert!(q("ne6").matches(&stored));
    assert!(q("ap6").matches(&stored));
    assert!(!q("ap5").matches(&stored));
    assert!(q("ge6|http://unitsofmeasure.org|%").matches(&stored));
    assert!(!q("ge6|http://unitsofmeasure.org|mg").matches(&stored));
    assert!(q("6.2||%").matches(&stored));
}

#[test]
fn and_or_and_empty_values() {
    let p = ok(
        "Observation",
        &[
            ("code", "a,b"),
            ("code", "c"),
            ("status", ""),
            ("_format", "json"),
            ("_pretty", "true"),
        ],
    );
    assert_eq!(p.query.criteria.len(), 2);
    assert_eq!(p.query.criteria[0].any_of.len(), 2);
    assert_eq!(p.query.criteria[1].any_of.len(), 1);
}

#[test]
fn control_parameters() {
    let p = ok(
        "Observation",
        &[
            ("_id", "o1,o2"),
            ("_lastUpdated", "ge2024-05-01"),
            ("_lastUpdated", "lt2024-06"),
            ("_sort", "-date,code,_lastUpdated,-_id,value-quantity"),
            ("_count", "20"),
            ("_offset", "40"),
            ("_total", "none"),
        ],
    );
    assert_eq!(p.query.ids, vec!["o1", "o2"]);
    assert_eq!(
        p.query.last_updated,
        vec![
            (
                Comparator::Ge,
                ms("2024-05-01T00:00:00+09:00"),
                ms("2024-05-02T00:00:00+09:00")
            ),
            (
                Comparator::Lt,
                ms("2024-06-01T00:00:00+09:00"),
                ms("2024-07-01T00:00:00+09:00")
            )
        ]
    );
    let key = |p: &str, d: bool| SortKey {
        param: p.into(),
        descending: d,
    };
    assert_eq!(
        p.query.sort,
        vec![
            key("date", true),
            key("code", false),
            key("_lastUpdated", false),
            key("_id", true),
            key("value-quantity", false)
        ]
    );
    assert_eq!(p.query.count, 20);
    assert_eq!(p.query.offset, 40);
    assert!(!p.query.want_total);
    assert!(
        ok("Observation", &[("_total", "estimate")])
            .query
            .want_total
    );
    assert!(
        ok("Observation", &[("_total", "accurate")])
            .query
            .want_total
    );
    assert!(ok("Observation", &[("_summary", "count")]).summary_count);
    assert_eq!(ok("Observation", &[("_count", "0")]).query.count, 0);
    // _count is capped, with a warning.
    let (p, w) = parse("Observation", &pairs(&[("_count", "5000")]), false, 0).unwrap();
    assert_eq!(p.query.count, MAX_COUNT);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].severity, Severity::Warning);
    // Errors.
    err("Observation", &[("_count", "-1")]);
    err("Observation", &[("_count", "ten")]);
    err("Observation", &[("_offset", "x")]);
    err("Observation", &[("_total", "some")]);
    err("Observation", &[("_id", "a b")]);
    err("Observation", &[("_id", "a"), ("_id", "b")]);
    err("Observation", &[("_lastUpdated", "2024-13")]);
    err("Observation", &[("_lastUpdated", "ge2024,le2025")]);
    err("Observation", &[("_sort", "subject")]); // reference: not sortable
    err("Observation", &[("_sort", "nope")]);
    err("Observation", &[("_summary", "bogus")]);
    assert_eq!(
        err("Observation", &[("_summary", "true")])[0].code,
        "not-supported"
    );
    err("Observation", &[("_count:x", "1")]);
}

#[test]
fn includes() {
    let p = ok(
        "Observation",
        &[
            ("_include", "Observation:patient"),
            ("_include", "Observation:subject:Patient"),
            ("_revinclude", "Provenance:target"),
            ("_revinclude", "DiagnosticReport:result"),
        ],
    );
    assert_eq!(
        p.includes,
        vec![
            Include {
                source_type: "Observation".into(),
                param: "patient".into(),
                target_type: None
            },
            Include {
                source_type: "Observation".into(),
                param: "subject".into(),
                target_type: Some("Patient".into())
            }
        ]
    );
    assert_eq!(p.revincludes.len(), 2);
    assert_eq!(p.revincludes[1].source_type, "DiagnosticReport");
    for (k, v) in [
        ("_include", "*"),
        ("_include", "Observation:*"),
        ("_revinclude", "*"),
    ] {
        assert_eq!(
            err("Observation", &[(k, v)])[0].code,
            "not-supported",
            "{v}"
        );
    }
    err("Observation", &[("_include", "Condition:patient")]); // wrong source
    err("Observation", &[("_include", "Observation:code")]); // not a reference
    err(
        "Observation",
        &[("_include", "Observation:subject:Encounter")],
    );
    err("Observation", &[("_include", "Observation")]);
    err("Observation", &[("_revinclude", "Condition:encounter")]); // targets Encounter
    err("Observation", &[("_revinclude", "Nope:subject")]);
    assert_eq!(
        err(
            "Observation",
            &[("_include:iterate", "Observation:patient")]
        )[0]
        .code,
        "not-supported"
    );
}

#[test]
fn chains() {
    let p = ok(
        "Observation",
        &[
            (
                "patient.identifier",
                "urn:oid:1.2.392.100495.20.3.51.11234567890|00012345",
            ),
            ("subject:Patient.name", "やまだ"),
            ("encounter.status", "finished"),
            ("patient._id", "p1,p2"),
            ("patient.family:exact", "山田"),
        ],
    );
    assert_eq!(
        p.chains,
        vec![
            Chain {
                param: "patient".into(),
                target_type: "Patient".into(),
                target_param: "identifier".into(),
                value: "urn:oid:1.2.392.100495.20.3.51.11234567890|00012345".into()
            },
            Chain {
                param: "subject".into(),
                target_type: "Patient".into(),
                target_param: "name".into(),
                value: "やまだ".into()
            },
            Chain {
                param: "encounter".into(),
                target_type: "Encounter".into(),
                target_param: "status".into(),
                value: "finished".into()
            },
            Chain {
                param: "patient".into(),
                target_type: "Patient".into(),
                target_param: "_id".into(),
                value: "p1,p2".into()
            },
            Chain {
                param: "patient".into(),
                target_type: "Patient".into(),
                target_param: "family:exact".into(),
                value: "山田".into()
            },
        ]
    );
    assert!(p.query.criteria.is_empty());
    // subject has several targets, but only Patient (among the supported ones) has `birthdate`.
    let p = ok("Observation", &[("subject.birthdate", "1950")]);
    assert_eq!(p.chains[0].target_type, "Patient");
    // Errors.
    assert_eq!(
        err("Observation", &[("patient.organization.name", "x")])[0].code,
        "not-supported"
    );
    err("Observation", &[("code.system", "x")]); // not a reference
    err("Observation", &[("patient.birthdate", "1950-02-30")]); // bad value for the target
    err("Observation", &[("subject:Encounter.status", "x")]); // not a target
    err("Observation", &[("patient._id", "a b")]);
    assert_eq!(
        err("Observation", &[("patient.nope", "x")])[0].code,
        "not-supported"
    );
    assert_eq!(
        err("Observation", &[("nope.name", "x")])[0].code,
        "not-supported"
    );
    err("Provenance", &[("target.status", "x")]); // ambiguous: any type
    assert_eq!(
        ok("Provenance", &[("target:Observation.status", "final")]).chains[0].target_type,
        "Observation"
    );
    err("Observation", &[("subject:Group.name", "x")]); // Group is not supported
}

#[test]
fn strict_and_lenient() {
    let e = err("Observation", &[("nope", "1"), ("code", "x")]);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].code, "not-supported");
    assert!(e[0].en.contains("nope"));
    err("Observation", &[("_elements", "code")]);
    err("Observation", &[("_has:Observation:patient:code", "x")]);

    let (p, w) = parse(
        "Observation",
        &pairs(&[
            ("nope", "1"),
            ("code:text", "HbA1c"),
            ("_include", "*"),
            ("code", "x"),
        ]),
        true,
        0,
    )
    .unwrap();
    assert_eq!(p.query.criteria.len(), 1);
    assert_eq!(w.len(), 3);
    assert!(w.iter().all(|i| i.severity == Severity::Warning));
    // Malformed values of known parameters stay errors.
    let e = parse(
        "Observation",
        &pairs(&[("nope", "1"), ("date", "2023-02-30")]),
        true,
        0,
    )
    .unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].code, "value");
    assert_eq!(e[0].severity, Severity::Error);
}
