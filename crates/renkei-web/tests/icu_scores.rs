//! The severity-score calculator as clients meet it: `POST /api/v1/scores/{score}` and the
//! `/icu/calculator` page, against a real server. Expected totals and component points are
//! worked out by hand from the tables in the reference (tele-icu.md), line by line below.

mod testkit;

use serde_json::{json, Value};
use testkit::{each_backend, TestApp};

async fn post_score(
    app: &TestApp,
    client: &reqwest::Client,
    score: &str,
    body: Value,
) -> (u16, Value) {
    let res = client
        .post(app.url(&format!("/api/v1/scores/{score}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, json)
}

/// Points of one component (`None` when missing), from the API answer.
fn points(sheet: &Value, component: &str) -> Option<u64> {
    let c = sheet["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == component)
        .unwrap_or_else(|| panic!("no component {component} in {sheet}"));
    c["points"].as_u64()
}

fn missing(sheet: &Value) -> Vec<String> {
    sheet["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

fn apache_case(creatinine: (&str, f64)) -> Value {
    let mut v = json!({
        "temperature_c": 38.7,          // 38.5–38.9 → 1
        "mean_arterial_pressure": 65,   // 50–69 → 2
        "heart_rate": 125,              // 110–139 → 2
        "respiratory_rate": 28,         // 25–34 → 1
        "fio2_pct": 60,                 // 0.6 ≥ 0.5 → A-aDO2 row
        "pao2_mmhg": 80,
        "paco2_mmhg": 40,               // 0.6 × 713 − 50 − 80 = 297.8 → 200–349 → 2
        "arterial_ph": 7.28,            // 7.25–7.32 → 2
        "sodium": 152,                  // 150–154 → 1
        "potassium": 3.2,               // 3–3.4 → 1
        "acute_renal_failure": true,    // creatinine points doubled
        "haematocrit_pct": 33,          // 30–45.9 → 0
        "wbc": 17,                      // 15–19.9 → 1
        "gcs": 12,                      // 15 − 12 → 3
        "age_years": 68,                // 65–74 → 5
        "chronic_health": "non_operative" // → 5
    });
    // 2.5 mg/dL: 2–3.4 → 3; 221 µmol/L: SI row 178–308 → 3; doubled → 6.
    v[creatinine.0] = json!(creatinine.1);
    v
}

#[tokio::test]
async fn apache_ii_known_case_in_both_creatinine_units() {
    each_backend(|app| async move {
        let (client, _) = app.sign_in("doctor1").await;
        for creatinine in [("creatinine_mg_dl", 2.5), ("creatinine_umol_l", 221.0)] {
            let (status, s) = post_score(&app, &client, "apache-ii", apache_case(creatinine)).await;
            assert_eq!(status, 200, "{s}");
            assert_eq!(s["score"], "apache_ii");
            // 1+2+2+1+2+2+1+1+6+0+1+3+5+5
            assert_eq!(s["total"], 32, "{creatinine:?}: {s}");
            assert_eq!(s["complete"], true);
            assert!(missing(&s).is_empty());
            for (c, p) in [
                ("temperature", 1),
                ("mean_arterial_pressure", 2),
                ("heart_rate", 2),
                ("respiratory_rate", 1),
                ("oxygenation", 2),
                ("acid_base", 2),
                ("sodium", 1),
                ("potassium", 1),
                ("creatinine", 6),
                ("haematocrit", 0),
                ("white_blood_cells", 1),
                ("glasgow_coma_scale", 3),
                ("age", 5),
                ("chronic_health", 5),
            ] {
                assert_eq!(points(&s, c), Some(p), "{c} with {creatinine:?}");
            }
            let oxy = s["components"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["component"] == "oxygenation")
                .unwrap();
            assert!((oxy["scored_value"].as_f64().unwrap() - 297.8).abs() < 1e-6);
            // FiO2 was given in percent: converted, and the conversion reported.
            assert_eq!(s["conversions"][0]["from_field"], "fio2_pct");
            assert_eq!(s["conversions"][0]["to_field"], "fio2");
            assert!((s["conversions"][0]["to_value"].as_f64().unwrap() - 0.6).abs() < 1e-9);
            let sources = oxy["sources"].as_array().unwrap();
            assert!(sources
                .iter()
                .any(|v| v["variable"] == "fio2"
                    && (v["value"].as_f64().unwrap() - 0.6).abs() < 1e-9));
        }
    })
    .await;
}

#[tokio::test]
async fn missing_components_are_listed_never_zero() {
    each_backend(|app| async move {
        let (client, _) = app.sign_in("nurse1").await;
        // Heart rate 125 → 2; creatinine 2.5 scores 3 but acute renal failure is not given,
        // so its points (3 or 6) are unknown: missing, not guessed.
        let (status, s) = post_score(
            &app,
            &client,
            "apache-ii",
            json!({"heart_rate": 125, "creatinine_mg_dl": 2.5}),
        )
        .await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["total"], 2);
        assert_eq!(s["complete"], false);
        let m = missing(&s);
        assert_eq!(m.len(), 13, "{m:?}");
        for c in [
            "temperature",
            "creatinine",
            "glasgow_coma_scale",
            "chronic_health",
        ] {
            assert!(m.contains(&c.to_string()), "{c} in {m:?}");
            assert_eq!(points(&s, c), None, "{c} is missing, not 0");
        }
        // SAPS II without every component: no predicted mortality.
        let (_, s) = post_score(&app, &client, "saps-ii", json!({"age_years": 50})).await;
        assert_eq!(s["total"], 7);
        assert_eq!(s["predicted_mortality"], Value::Null);
        // SOFA without vasoactive-drug status: cardiovascular missing.
        let (_, s) = post_score(
            &app,
            &client,
            "sofa",
            json!({"platelets": 90, "mean_arterial_pressure": 65}),
        )
        .await;
        assert_eq!(points(&s, "cardiovascular"), None);
        assert!(missing(&s).contains(&"cardiovascular".to_string()));
        assert_eq!(s["total"], 2);
        // An empty body is a valid request: everything missing.
        let (status, s) = post_score(&app, &client, "mods", json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(s["total"], 0);
        assert_eq!(missing(&s).len(), 6);
    })
    .await;
}

#[tokio::test]
async fn saps_ii_known_case_with_predicted_mortality() {
    each_backend(|app| async move {
        let (client, _) = app.sign_in("doctor1").await;
        let body = json!({
            "age_years": 65,                 // 60–69 → 12
            "heart_rate": 130,               // 120–159 → 4
            "systolic_bp": 85,               // 70–99 → 5
            "temperature_c": 39.2,           // ≥ 39 → 3
            "ventilated_or_cpap": true,
            "pao2_mmhg": 150, "fio2": 0.5,   // P/F 300 → ≥ 200 → 6
            "urine_output_ml_day": 800,      // 0.8 L → 0.5–0.999 → 4
            "bun_mg_dl": 30,                 // 28–83 → 6
            "wbc": 22,                       // ≥ 20 → 3
            "potassium": 5.2,                // ≥ 5 → 3
            "sodium": 130,                   // 125–144 → 0
            "bicarbonate": 17,               // 15–19 → 3
            "bilirubin_umol_l": 34.2,        // < 68.4 → 0
            "gcs": 10,                       // 9–10 → 7
            "chronic_disease": "metastatic_cancer", // 9
            "admission_type": "medical"      // 6
        });
        let (status, s) = post_score(&app, &client, "saps-ii", body).await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["total"], 71, "{s}");
        assert_eq!(s["complete"], true);
        for (c, p) in [
            ("age", 12),
            ("heart_rate", 4),
            ("systolic_blood_pressure", 5),
            ("temperature", 3),
            ("pao2_fio2", 6),
            ("urine_output", 4),
            ("urea", 6),
            ("white_blood_cells", 3),
            ("potassium", 3),
            ("sodium", 0),
            ("bicarbonate", 3),
            ("bilirubin", 0),
            ("glasgow_coma_scale", 7),
            ("chronic_disease", 9),
            ("admission_type", 6),
        ] {
            assert_eq!(points(&s, c), Some(p), "{c}");
        }
        // logit = −7.7631 + 0.0737·71 + 0.9971·ln 72 = 1.7339; P = 1/(1 + e^−1.7339) = 0.8499
        let p = s["predicted_mortality"].as_f64().unwrap();
        assert!((p - 0.8499).abs() < 0.0005, "{p}");
        assert_eq!(s["conversions"][0]["from_field"], "urine_output_ml_day");
        assert_eq!(s["conversions"][0]["to_value"], 0.8);
    })
    .await;
}

#[tokio::test]
async fn news2_risk_band_and_single_parameter_three() {
    each_backend(|app| async move {
        let (client, _) = app.sign_in("nurse1").await;
        let body = json!({
            "respiratory_rate": 22,      // 21–24 → 2
            "spo2_pct": 95,              // scale 1, 94–95 → 1
            "on_oxygen": true,           // oxygen → 2
            "systolic_bp": 105,          // 101–110 → 1
            "pulse": 95,                 // 91–110 → 1
            "consciousness": "alert",    // 0
            "temperature_c": 38.5        // 38.1–39.0 → 1
        });
        let (status, s) = post_score(&app, &client, "news2", body).await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["total"], 8);
        assert_eq!(s["risk"], "high", "≥ 7");
        assert_eq!(s["single_parameter_3"], false);
        assert_eq!(points(&s, "air_or_oxygen"), Some(2));
        assert_eq!(points(&s, "spo2"), Some(1));
        // Only new confusion scores: total 3, but a single 3 → low–medium.
        let body = json!({
            "respiratory_rate": 18, "spo2_pct": 97, "on_oxygen": false, "systolic_bp": 120,
            "pulse": 80, "consciousness": "new_confusion", "temperature_c": 37.0
        });
        let (_, s) = post_score(&app, &client, "news2", body).await;
        assert_eq!(s["total"], 3);
        assert_eq!(s["risk"], "low_medium");
        assert_eq!(s["single_parameter_3"], true);
        // Incomplete: no risk band, but the band already reached.
        let (_, s) = post_score(&app, &client, "news2", json!({"pulse": 135})).await;
        assert_eq!(s["risk"], Value::Null);
        assert_eq!(s["minimum_risk"], "low_medium");
        assert_eq!(s["single_parameter_3"], true);
    })
    .await;
}

#[tokio::test]
async fn mods_and_sofa_known_cases_and_unit_conversion() {
    each_backend(|app| async move {
        let (client, _) = app.sign_in("doctor1").await;
        for creatinine in [("creatinine_mg_dl", 2.5), ("creatinine_umol_l", 221.0)] {
            let mut body = json!({
                "pao2_mmhg": 80, "fio2": 0.4,           // P/F 200 → 151–225 → 2
                "bilirubin_umol_l": 50,                 // 21–60 → 1
                "heart_rate": 120, "cvp_mmhg": 10,
                "mean_arterial_pressure": 70,           // 120·10/70 = 17.1 → 15.1–20 → 2
                "platelets": 60,                        // 51–80 → 2
                "gcs": 14                               // 13–14 → 1
            });
            // 221 µmol/L (2.5 mg/dL × 88.4): 201–350 → 2
            body[creatinine.0] = json!(creatinine.1);
            let (status, s) = post_score(&app, &client, "mods", body).await;
            assert_eq!(status, 200, "{s}");
            assert_eq!(s["total"], 10, "{creatinine:?}: {s}");
            assert_eq!(points(&s, "respiratory"), Some(2));
            assert_eq!(points(&s, "renal"), Some(2), "{creatinine:?}");
            assert_eq!(points(&s, "hepatic"), Some(1));
            assert_eq!(points(&s, "cardiovascular"), Some(2));
            assert_eq!(points(&s, "haematologic"), Some(2));
            assert_eq!(points(&s, "neurologic"), Some(1));

            let mut body = json!({
                "pao2_mmhg": 90, "fio2_pct": 50,        // P/F 180
                "respiratory_support": true,            // < 200 with support → 3
                "platelets": 90,                        // < 100 → 2
                "bilirubin_mg_dl": 1.5,                 // 1.2–1.9 → 1
                "mean_arterial_pressure": 65,
                "norepinephrine_ug_kg_min": 0.05,       // ≤ 0.1 → 3 (MAP < 70 is only 1)
                "gcs": 11,                              // 10–12 → 2
                "urine_output_ml_day": 600              // not < 500 → 0
            });
            // 2.5 mg/dL: 2.0–3.4 → 2 (renal = max(2, 0))
            body[creatinine.0] = json!(creatinine.1);
            let (status, s) = post_score(&app, &client, "sofa", body).await;
            assert_eq!(status, 200, "{s}");
            assert_eq!(s["total"], 13, "{creatinine:?}: {s}");
            assert_eq!(points(&s, "respiratory"), Some(3));
            assert_eq!(points(&s, "haematologic"), Some(2));
            assert_eq!(points(&s, "hepatic"), Some(1));
            assert_eq!(points(&s, "cardiovascular"), Some(3));
            assert_eq!(points(&s, "neurologic"), Some(2));
            assert_eq!(points(&s, "renal"), Some(2), "{creatinine:?}");
        }
        // A converted value exactly on a band edge stays on it: 309.4 µmol/L is 3.5 mg/dL
        // (3.5–4.9 → SOFA renal 3), although 309.4 / 88.4 is 3.4999999999999996 in floating
        // point; 20.52 µmol/L bilirubin is 1.2 mg/dL (1.2–1.9 → hepatic 1).
        let (_, s) = post_score(
            &app,
            &client,
            "sofa",
            json!({"creatinine_umol_l": 309.4, "urine_output_ml_day": 1500, "bilirubin_umol_l": 20.52}),
        )
        .await;
        assert_eq!(points(&s, "renal"), Some(3), "{s}");
        assert_eq!(points(&s, "hepatic"), Some(1), "{s}");
    })
    .await;
}

#[tokio::test]
async fn bad_requests_get_documented_json_errors() {
    each_backend(|app| async move {
        let (client, _) = app.sign_in("doctor1").await;
        let cases: Vec<(&str, Value, u16, &str)> = vec![
            ("news2", json!({"spo2_pct": 140}), 422, "spo2_pct"),
            ("mods", json!({"platelets": -5}), 422, "platelets"),
            (
                "apache-ii",
                json!({"heart_rate": "fast"}),
                422,
                "heart_rate",
            ),
            ("apache-ii", json!({"gcs": 12.5}), 422, "gcs"),
            ("apache-ii", json!({"gcs": 2}), 422, "gcs"),
            ("apache-ii", json!({"creatinine": 2.5}), 422, "creatinine"),
            (
                "apache-ii",
                json!({"creatinine_mg_dl": 2.5, "creatinine_umol_l": 221}),
                422,
                "creatinine_umol_l",
            ),
            ("apache-ii", json!({"fio2": 40}), 422, "fio2"),
            (
                "news2",
                json!({"consciousness": "sleepy"}),
                422,
                "consciousness",
            ),
            ("news2", json!({"on_oxygen": "yes"}), 422, "on_oxygen"),
            (
                "saps-ii",
                json!({"heart_rate": {"value": 80, "at": "today"}}),
                422,
                "heart_rate",
            ),
            (
                "saps-ii",
                json!({"heart_rate": {"value": 80, "unit": "bpm"}}),
                422,
                "heart_rate.unit",
            ),
            (
                "sofa",
                json!({"vasoactive_drugs": "none", "dopamine_ug_kg_min": 5}),
                422,
                "vasoactive_drugs",
            ),
            (
                "sofa",
                json!({"vasoactive_drugs": "given"}),
                422,
                "vasoactive_drugs",
            ),
            ("news2", json!({"heart_rate": 80}), 422, "heart_rate"),
        ];
        for (score, body, status, field) in cases {
            let (got, err) = post_score(&app, &client, score, body.clone()).await;
            assert_eq!(got, status, "{score} {body}: {err}");
            assert_eq!(err["field"], field, "{score} {body}: {err}");
            assert!(
                err["error"].as_str().unwrap().contains(field),
                "the message names the field: {err}"
            );
        }
        // A value with its time and basis is accepted, and they come back with the source.
        let (status, s) = post_score(
            &app,
            &client,
            "news2",
            json!({"pulse": {"value": 95, "at": 1_764_000_000_000i64, "basis": "nurse_validated"}}),
        )
        .await;
        assert_eq!(status, 200, "{s}");
        let hr = &s["components"].as_array().unwrap()[4];
        assert_eq!(hr["component"], "heart_rate");
        assert_eq!(hr["sources"][0]["at"], 1_764_000_000_000i64);
        assert_eq!(hr["sources"][0]["basis"], "nurse_validated");

        // Unknown score: 404 naming the path parameter.
        let (status, err) = post_score(&app, &client, "apache", json!({})).await;
        assert_eq!(status, 404);
        assert_eq!(err["field"], "score");
        // Malformed JSON and a body that is not an object: 400 without a field.
        for raw in ["{\"heart_rate\": ", "[1, 2]", ""] {
            let res = client
                .post(app.url("/api/v1/scores/news2"))
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{raw:?}");
            let err: Value = res.json().await.unwrap();
            assert!(err["error"].is_string());
            assert!(err.get("field").is_none(), "{err}");
        }
        // Not JSON at all: 415.
        let res = client
            .post(app.url("/api/v1/scores/news2"))
            .form(&[("pulse", "80")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415);
        // Oversized: 413 with a JSON error.
        let big = json!({ "pulse": 80, "padding": "x".repeat(20_000) });
        let (status, err) = post_score(&app, &client, "news2", big).await;
        assert_eq!(status, 413, "{err}");
        assert!(err["error"].as_str().unwrap().contains("bytes"));
        // Signed-in sessions only, like the rest of /api/v1.
        let res = app
            .anon()
            .post(app.url("/api/v1/scores/news2"))
            .json(&json!({"pulse": 80}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "sign-in required");
        // A cross-site page cannot use the session.
        let res = client
            .post(app.url("/api/v1/scores/news2"))
            .header("origin", "https://evil.example")
            .json(&json!({"pulse": 80}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    })
    .await;
}

#[tokio::test]
async fn calculator_page_computes_with_csrf_and_refuses_bad_values() {
    each_backend(|app| async move {
        // Signed-in users only.
        let res = app
            .anon()
            .get(app.url("/icu/calculator"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let (client, home) = app.sign_in("nurse1").await;
        assert!(
            home.contains("href=\"/icu/calculator\""),
            "linked from the navigation"
        );
        let page = client
            .get(app.url("/icu/calculator?score=sofa"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("重症度スコア計算"), "Japanese by default");
        assert!(page.contains("name=\"score\" value=\"sofa\""));
        assert!(page.contains("name=\"creatinine_unit\""), "unit choice");
        assert!(
            !page.contains("id=\"score-total\""),
            "no result before posting"
        );
        let csrf = testkit::csrf_of(&page);

        let form = |csrf: &str| {
            vec![
                ("csrf", csrf.to_string()),
                ("score", "sofa".into()),
                ("pao2", "90".into()),
                ("pao2_unit", "pao2_mmhg".into()),
                ("fio2", "50".into()),
                ("fio2_unit", "fio2_pct".into()),
                ("respiratory_support", "yes".into()),
                ("platelets", "９０".into()), // full-width digits, as an IME types them
                ("bilirubin", "25.65".into()), // µmol/L = 1.5 mg/dL → 1
                ("bilirubin_unit", "bilirubin_umol_l".into()),
                ("mean_arterial_pressure", "65".into()),
                ("vasoactive_drugs", "given".into()),
                ("norepinephrine", "0.05".into()),
                ("gcs", "11".into()),
                ("creatinine", "221".into()),
                ("creatinine_unit", "creatinine_umol_l".into()),
                ("urine_output", "".into()), // renal: 2 from creatinine, urine unknown → missing
            ]
        };
        // Without the session's CSRF token: refused.
        let res = client
            .post(app.url("/icu/calculator"))
            .form(&form("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);

        let res = client
            .post(app.url("/icu/calculator"))
            .form(&form(&csrf))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        // 3 + 2 + 1 + 3 + 2, renal missing
        assert!(html.contains("id=\"score-total\">11<"), "{html}");
        assert!(html.contains("id=\"missing\""));
        let renal = testkit::between(&html, "id=\"component-renal\"", "</tr>").unwrap();
        assert!(renal.contains("class=\"missing\""), "{renal}");
        assert!(renal.contains("欠測"), "shown as missing: {renal}");
        assert!(
            !renal.contains("<td class=\"points\">0</td>"),
            "never as 0: {renal}"
        );
        assert!(
            renal.contains("尿量が必要"),
            "the reason, in Japanese: {renal}"
        );
        let cv = testkit::between(&html, "id=\"component-cardiovascular\"", "</tr>").unwrap();
        assert!(cv.contains("<td class=\"points\">3</td>"), "{cv}");
        // Values are kept in the form.
        assert!(html.contains("value=\"221\""));
        assert!(html.contains("<option value=\"creatinine_umol_l\" selected>"));

        // With the urine output the score is complete.
        let mut full = form(&csrf);
        full.retain(|(k, _)| *k != "urine_output");
        full.push(("urine_output", "600".into()));
        full.push(("urine_output_unit", "urine_output_ml_day".into()));
        let html = client
            .post(app.url("/icu/calculator"))
            .form(&full)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"score-total\">13<"), "{html}");
        assert!(!html.contains("id=\"missing\""));

        // An impossible value: the form again with a message at the field, nothing computed.
        let res = client
            .post(app.url("/icu/calculator"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("score", "news2"),
                ("spo2", "140"),
                ("pulse", "abc"),
                ("respiratory_rate", "18"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(html.contains("id=\"form-error\""));
        assert!(!html.contains("id=\"score-total\""));
        let spo2 = testkit::between(&html, "id=\"e-spo2\"", "</p>").unwrap();
        assert!(spo2.contains("0–100 %"), "{spo2}");
        assert!(html.contains("id=\"e-pulse\""));
        assert!(!html.contains("id=\"e-respiratory_rate\""));
        assert!(html.contains("value=\"140\""), "the typed value is kept");

        // English on request; NEWS2 shows its risk band.
        let res = client
            .get(app.url("/lang/en?back=/icu/calculator"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection());
        let html = client
            .post(app.url("/icu/calculator"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("score", "news2"),
                ("respiratory_rate", "22"),
                ("spo2", "95"),
                ("spo2_scale", "scale1"),
                ("on_oxygen", "yes"),
                ("systolic_bp", "105"),
                ("pulse", "95"),
                ("consciousness", "alert"),
                ("temperature", "38.5"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Severity score calculator"), "{html}");
        assert!(html.contains("id=\"score-total\">8<"));
        let risk = testkit::between(&html, "id=\"risk\"", "</p>").unwrap();
        assert!(risk.contains("High (emergency response)"), "{risk}");

        // SAPS II on the page: predicted mortality only once complete.
        let html = client
            .post(app.url("/icu/calculator"))
            .form(&[("csrf", csrf.as_str()), ("score", "saps-ii"), ("age", "50")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"score-total\">7<"));
        let m = testkit::between(&html, "id=\"mortality\"", "</p>").unwrap();
        assert!(m.contains("Computed once every component is scored"), "{m}");
    })
    .await;
}

/// openapi.yaml documents exactly the input fields the server accepts, per score.
#[test]
fn openapi_documents_every_score_field() {
    use renkei_web::icu::{Kind, Score};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let openapi = std::fs::read_to_string(root.join("docs/openapi.yaml")).unwrap();
    assert!(openapi.contains("/api/v1/scores/{score}"));
    for score in Score::ALL {
        let schema = match score {
            Score::ApacheIi => "ApacheIiRequest",
            Score::SapsIi => "SapsIiRequest",
            Score::News2 => "News2Request",
            Score::Mods => "ModsRequest",
            Score::Sofa => "SofaRequest",
        };
        assert!(
            openapi.contains(score.slug()),
            "{} in the path enum",
            score.slug()
        );
        let section = openapi
            .split(&format!("\n    {schema}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("{schema} in openapi.yaml"));
        // Up to the next schema (four-space indent).
        let end = section
            .lines()
            .position(|l| l.starts_with("    ") && !l.starts_with("     "))
            .unwrap_or(section.lines().count());
        let documented: Vec<String> = section
            .lines()
            .take(end)
            .filter(|l| l.starts_with("        ") && !l.starts_with("         "))
            .map(|l| l.trim().split(':').next().unwrap().to_string())
            .collect();
        let mut accepted: Vec<String> = Vec::new();
        for p in score.params() {
            match &p.kind {
                Kind::Number(units) => accepted.extend(units.iter().map(|u| u.field.to_string())),
                Kind::Flag(f) | Kind::Choice(f, _) => accepted.push(f.to_string()),
            }
        }
        let (mut d, mut a) = (documented.clone(), accepted.clone());
        d.sort();
        a.sort();
        assert_eq!(d, a, "{schema} fields differ from the server's");
    }
}
