//! The Tele-ICU pages around the census through a real server, on both backends: the bed
//! detail (banner, values, trends, scores with missing components), 404 for people who do
//! not watch the unit, rounds, calls and alert acknowledgement round trips with CSRF,
//! hostile form input (overlong text, non-numeric values, no CSRF token) answered with a
//! form message and nothing stored, discharge, the handover, the quarantine review and the
//! setup (a bed added there appears on the census).

mod testkit;

use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::ids;
use renkei_storage::icu::{
    IcuAlert, IcuAlertChanges, IcuBed, IcuDisposition, IcuIncoming, IcuQuarantined, IcuStay,
    IcuUnit, IcuValue,
};
use testkit::{csrf, each_backend, TestApp};

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, String)],
) -> (u16, String, String) {
    let res = client.post(app.url(path)).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, res.text().await.unwrap())
}

fn audit(action: &str) -> AuditEntry {
    AuditEntry::new(action, Outcome::Success)
}

struct Ward {
    unit: IcuUnit,
    bed: IcuBed,
    stay: IcuStay,
}

/// The test hospital runs its own ICU (it is also the unit's centre); doctor1 registers a
/// patient and admits her through the admission form; the monitor has sent some values.
async fn ward(app: &TestApp, doctor: &reqwest::Client) -> Ward {
    ward_watched_by(app, doctor, &app.facility_id.clone()).await
}

async fn ward_watched_by(app: &TestApp, doctor: &reqwest::Client, centre: &str) -> Ward {
    let now = renkei_domain::now_millis();
    let unit = IcuUnit {
        id: ids::new_id(),
        facility_id: app.facility_id.clone(),
        centre_facility_id: centre.to_string(),
        code: "ICU".into(),
        name: "集中治療室".into(),
        kind: "icu".into(),
        colour: "#1f6fb4".into(),
        sampling_seconds: 60,
        active: true,
        updated_at: now,
    };
    app.store
        .icu()
        .icu_put_unit(unit.clone(), audit("test.unit"))
        .await
        .unwrap();
    let bed = IcuBed {
        id: ids::new_id(),
        unit_id: unit.id.clone(),
        facility_id: app.facility_id.clone(),
        label: "ICU-1".into(),
        monitor_key: "BED-01".into(),
        position: 0,
        active: true,
        updated_at: now,
    };
    app.store
        .icu()
        .icu_put_bed(bed.clone(), audit("test.bed"))
        .await
        .unwrap();

    let token = csrf(app, doctor).await;
    let (status, _, body) = post_form(
        app,
        doctor,
        "/patients/new",
        &[
            ("csrf", token.clone()),
            ("local_id", "ICU-001".into()),
            ("family_kanji", "苫小牧".into()),
            ("given_kanji", "花子".into()),
            ("family_kana", "とまこまい".into()),
            ("given_kana", "はなこ".into()),
            ("birth_date", "1948-04-12".into()),
            ("sex", "female".into()),
            ("postal_code", "053-0022".into()),
            ("address", "北海道苫小牧市表町1丁目2-3".into()),
            ("phone", "0144-32-1111".into()),
            ("care_level", "care2".into()),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let (status, location, body) = post_form(
        app,
        doctor,
        "/icu/admit",
        &[
            ("csrf", token),
            ("bed_id", bed.id.clone()),
            ("local_id", "ICU-001".into()),
            ("admission_type", "medical".into()),
            ("diagnosis", "敗血症性ショック".into()),
            ("attending", "集中 太郎".into()),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/icu"), "{body}");
    let stay = app
        .store
        .icu()
        .icu_open_stays()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.bed_id == bed.id)
        .unwrap();

    let mut values = Vec::new();
    for (i, minutes_ago) in [50i64, 30, 10, 2].into_iter().enumerate() {
        let at = now - minutes_ago * 60_000;
        for (item, v) in [
            ("hr", 112.0 + i as f64),
            ("spo2", 93.0),
            ("sbp", 98.0),
            ("map", 68.0),
            ("rr", 24.0),
            ("temp", 38.4),
        ] {
            values.push(IcuValue {
                stay_id: stay.id.clone(),
                item: item.into(),
                at,
                value: v,
                source: "monitor".into(),
            });
        }
    }
    for (item, v) in [("creatinine", 1.8), ("plt", 95.0), ("bilirubin", 1.1)] {
        values.push(IcuValue {
            stay_id: stay.id.clone(),
            item: item.into(),
            at: now - 3 * 3_600_000,
            value: v,
            source: "lab".into(),
        });
    }
    app.store
        .icu()
        .icu_record_values(values, IcuAlertChanges::default(), audit("test.values"))
        .await
        .unwrap();
    Ward { unit, bed, stay }
}

async fn raise_alert(app: &TestApp, stay: &IcuStay, rule: &str) -> String {
    let id = ids::new_id();
    app.store
        .icu()
        .icu_apply_alerts(
            IcuAlertChanges {
                raise: vec![IcuAlert {
                    id: id.clone(),
                    stay_id: Some(stay.id.clone()),
                    facility_id: stay.facility_id.clone(),
                    rule: rule.into(),
                    severity: "critical".into(),
                    audience: "nurse,physician".into(),
                    text: "SpO2 低下 88%".into(),
                    value: Some(88.0),
                    raised_at: renkei_domain::now_millis(),
                    acked_at: None,
                    acked_by: None,
                    ack_reason: None,
                    snoozed_until: None,
                    cleared_at: None,
                }],
                clear: Vec::new(),
            },
            audit("test.alert"),
        )
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn bed_detail_rounds_calls_alerts_and_setup() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let w = ward(&app, &doctor).await;
        let page = format!("/icu/stays/{}", w.stay.id);

        // The detail: banner, newest values, trends, scores with missing components.
        let (status, html) = get(&app, &doctor, &page).await;
        assert_eq!(status, 200, "{html}");
        for needle in [
            "苫小牧 花子",
            "ICU-001",
            "集中治療室",
            "ICU-1",
            "敗血症性ショック",
            "115",
            "<svg class=\"trend\"",
            "NEWS2",
            "SOFA",
            "APACHE II",
            "未測定",
            "クレアチニン",
            "1.80",
        ] {
            assert!(
                html.contains(needle),
                "{needle} missing from the detail page"
            );
        }
        let (status, html) = get(&app, &doctor, &format!("{page}?range=1h")).await;
        assert_eq!(status, 200);
        assert!(
            html.contains("data-range=\"1h\""),
            "a trend of the last hour"
        );
        // 7 days: days-old raw values (kept raw for the retention period) count per hour.
        let now = renkei_domain::now_millis();
        let old: Vec<IcuValue> = [4 * 24, 3 * 24, 3 * 24 - 1]
            .into_iter()
            .map(|hours_ago: i64| IcuValue {
                stay_id: w.stay.id.clone(),
                item: "rr".into(),
                at: now - hours_ago * 3_600_000,
                value: 18.0,
                source: "monitor".into(),
            })
            .collect();
        app.store
            .icu()
            .icu_record_values(old, IcuAlertChanges::default(), audit("test.values"))
            .await
            .unwrap();
        let (status, html) = get(&app, &doctor, &format!("{page}?range=7d")).await;
        assert_eq!(status, 200);
        let rr = html
            .split("<figure class=\"chart\">")
            .find(|f| f.contains("<strong>呼吸数</strong>"))
            .expect("a respiratory-rate trend over 7 days");
        let points = rr
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split(' ')
            .count();
        // Three old hours, and the last hour's values in one or two clock hours.
        assert!((4..=5).contains(&points), "{points}: {rr}");
        let views = app
            .store
            .search_audit(&renkei_storage::AuditQuery {
                action_prefix: Some("icu.stay.view".into()),
                patient_id: Some(w.stay.person_id.clone()),
                outcome: Some("success".into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(views.len() >= 3, "every view is audited with the patient");

        // Someone at a hospital that neither runs nor watches the unit: 404, audited.
        let (other, _) = app.sign_in("otherdoc").await;
        let (status, html) = get(&app, &other, &page).await;
        assert_eq!(status, 404);
        assert!(!html.contains("苫小牧"));
        let (status, _) = get(&app, &doctor, "/icu/stays/no-such-stay").await;
        assert_eq!(status, 404);

        // Round with the VAP checklist.
        let token = csrf(&app, &doctor).await;
        let (status, location, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/rounds"),
            &[
                ("csrf", token.clone()),
                ("check", "head_of_bed_30".into()),
                ("check", "oral_care".into()),
                ("note", "鎮静浅め、SBT 明日".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        assert!(location.starts_with(&page), "{location}");
        let rounds = app.store.icu().icu_rounds(&w.stay.id).await.unwrap();
        assert_eq!(rounds.len(), 1);
        assert_eq!(rounds[0].role, "intensivist");
        let checklist: serde_json::Value = serde_json::from_str(&rounds[0].checklist).unwrap();
        assert_eq!(checklist["head_of_bed_30"], true);
        assert_eq!(checklist["cuff_pressure"], false);

        // No CSRF token: refused with the form-expired page, nothing stored.
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/rounds"),
            &[("check", "oral_care".into()), ("note", "x".into())],
        )
        .await;
        assert_eq!(status, 403);
        assert!(body.contains("フォームの有効期限"), "{body}");
        assert_eq!(
            app.store.icu().icu_rounds(&w.stay.id).await.unwrap().len(),
            1
        );
        // A checklist item that does not exist.
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/rounds"),
            &[("csrf", token.clone()), ("check", "<script>".into())],
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("id=\"form-errors\"") && !body.contains("<script>"));
        assert_eq!(
            app.store.icu().icu_rounds(&w.stay.id).await.unwrap().len(),
            1
        );

        // A call from the centre, then advice and outcome.
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/calls"),
            &[
                ("csrf", token.clone()),
                ("direction", "call".into()),
                ("reason", "MAP 低下傾向、輸液反応性の確認".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let calls = app
            .store
            .icu()
            .icu_calls(std::slice::from_ref(&w.stay.id), 10)
            .await
            .unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].direction, "call");
        // An overlong reason: form message, nothing stored.
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/calls"),
            &[
                ("csrf", token.clone()),
                ("direction", "consult".into()),
                ("reason", "あ".repeat(501)),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("id=\"form-errors\""), "{body}");
        assert_eq!(
            app.store
                .icu()
                .icu_calls(std::slice::from_ref(&w.stay.id), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/calls/{}/close", calls[0].id),
            &[
                ("csrf", token.clone()),
                ("advice", "細胞外液 500 mL 負荷".into()),
                ("outcome", "MAP 72 に改善".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let calls = app
            .store
            .icu()
            .icu_calls(std::slice::from_ref(&w.stay.id), 10)
            .await
            .unwrap();
        assert_eq!(calls[0].outcome, "MAP 72 に改善");
        assert!(calls[0].closed_at.is_some());
        let (_, html) = get(&app, &doctor, &page).await;
        assert!(html.contains("細胞外液 500 mL 負荷") && html.contains("鎮静浅め"));

        // Manual entries: non-numeric and impossible values are refused whole.
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/values"),
            &[
                ("csrf", token.clone()),
                ("gcs", "abc".into()),
                ("norepinephrine", "0.1".into()),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("数値で入力してください"), "{body}");
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &format!("{page}/values"),
            &[("csrf", token.clone()), ("gcs", "17".into())],
        )
        .await;
        assert_eq!(status, 422);
        let latest = app
            .store
            .icu()
            .icu_latest(std::slice::from_ref(&w.stay.id))
            .await
            .unwrap();
        assert!(!latest
            .iter()
            .any(|v| v.item == "gcs" || v.item == "norepinephrine"));
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/values"),
            &[
                ("csrf", token.clone()),
                ("gcs", "１４".into()),
                ("acvpu", "0".into()),
                ("o2_therapy", "1".into()),
                ("norepinephrine", "0.12".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let latest = app
            .store
            .icu()
            .icu_latest(std::slice::from_ref(&w.stay.id))
            .await
            .unwrap();
        assert_eq!(latest.iter().find(|v| v.item == "gcs").unwrap().value, 14.0);
        let entered = app
            .store
            .icu()
            .icu_values(&w.stay.id, &["norepinephrine".into()], 0, i64::MAX)
            .await
            .unwrap();
        assert_eq!(
            (entered.len(), entered[0].value, entered[0].source.as_str()),
            (1, 0.12, "manual")
        );
        // The scores use them: noradrenaline > 0.1 µg/kg/min is SOFA cardiovascular 4;
        // NEWS2 now knows consciousness (A: 0) and oxygen (2).
        let (_, html) = get(&app, &doctor, &page).await;
        assert!(
            html.contains("<th scope=\"row\">循環</th><td class=\"pts\">4</td>"),
            "{html}"
        );
        assert!(html.contains("<th scope=\"row\">空気 / 酸素投与</th><td class=\"pts\">2</td>"));

        // Alerts: acknowledge with snooze; a reason is required.
        let alert_id = raise_alert(&app, &w.stay, "spo2.low").await;
        let (status, html) = get(&app, &doctor, "/icu/alerts").await;
        assert_eq!(status, 200);
        assert!(html.contains("SpO2 低下 88%") && html.contains("苫小牧 花子"));
        let ack = format!("/icu/alerts/{alert_id}/ack");
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &ack,
            &[
                ("csrf", token.clone()),
                ("reason", "".into()),
                ("snooze_minutes", "abc".into()),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("id=\"form-errors\""));
        let alert = app
            .store
            .icu()
            .icu_get_alert(&alert_id)
            .await
            .unwrap()
            .unwrap();
        assert!(alert.acked_at.is_none());
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &ack,
            &[
                ("reason", "プローブ再装着".into()),
                ("snooze_minutes", "30".into()),
            ],
        )
        .await;
        assert_eq!(status, 403, "no CSRF token");
        let (status, location, body) = post_form(
            &app,
            &doctor,
            &ack,
            &[
                ("csrf", token.clone()),
                ("reason", "プローブ再装着".into()),
                ("snooze_minutes", "30".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        assert!(location.starts_with("/icu/alerts"));
        let alert = app
            .store
            .icu()
            .icu_get_alert(&alert_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alert.ack_reason.as_deref(), Some("プローブ再装着"));
        assert!(alert.snoozed_until.unwrap() > renkei_domain::now_millis() + 25 * 60_000);
        let (status, _, _) = post_form(
            &app,
            &other,
            &ack,
            &[("csrf", csrf(&app, &other).await), ("reason", "x".into())],
        )
        .await;
        assert_eq!(status, 403, "no Tele-ICU view at all");

        // Handover: the patient with today's round and nothing open.
        let (status, html) = get(&app, &doctor, "/icu/handover").await;
        assert_eq!(status, 200);
        assert!(html.contains("苫小牧 花子") && html.contains("集中治療室"));

        // Views by role: nurses see NEWS2 but no laboratory values or SOFA/APACHE II;
        // clerks temperature, urine and GCS only.
        let (nurse, _) = app.sign_in("nurse1").await;
        let (status, html) = get(&app, &nurse, &page).await;
        assert_eq!(status, 200);
        assert!(html.contains("NEWS2") && html.contains("115"));
        assert!(!html.contains("クレアチニン") && !html.contains("APACHE II"));
        let (admin, _) = app.sign_in("admin1").await;
        let (status, html) = get(&app, &admin, &page).await;
        assert_eq!(
            status, 200,
            "the administrator is a clerk of the unit's facility"
        );
        assert!(html.contains("38.4") && html.contains("苫小牧 花子"));
        assert!(!html.contains("115") && !html.contains("NEWS2") && !html.contains("SpO2"));
        assert!(!html.contains("/rounds\""), "clerks do not record rounds");

        // Quarantine review: physicians and admins only; resolving needs a note.
        let q = IcuQuarantined {
            id: ids::new_id(),
            received_at: renkei_domain::now_millis(),
            facility_id: app.facility_id.clone(),
            centre_facility_id: Some(app.facility_id.clone()),
            control_id: "MSG-0042".into(),
            bed_key: "BED-77".into(),
            patient_key: "P-999".into(),
            reason: "no admitted patient in bed BED-77".into(),
            message: "MSH|^~\\&|NK|F00001|||20300101||ORU^R01|MSG-0042|P|2.5\rPID|||P-999".into(),
            resolved_at: None,
            resolved_by: None,
            resolution: None,
        };
        app.store
            .icu()
            .icu_ingest(
                vec![IcuIncoming {
                    facility_id: app.facility_id.clone(),
                    control_id: q.control_id.clone(),
                    received_at: q.received_at,
                    disposition: IcuDisposition::Quarantine(Box::new(q.clone())),
                }],
                IcuAlertChanges::default(),
                audit("test.ingest"),
            )
            .await
            .unwrap();
        let (status, html) = get(&app, &doctor, "/icu/quarantine").await;
        assert_eq!(status, 200);
        assert!(
            html.contains("no admitted patient in bed BED-77")
                && html.contains("<pre class=\"hl7\">MSH|")
        );
        let (status, _) = get(&app, &nurse, "/icu/quarantine").await;
        assert_eq!(status, 403);
        let resolve = format!("/icu/quarantine/{}/resolve", q.id);
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &resolve,
            &[
                ("csrf", token.clone()),
                ("action", "discard".into()),
                ("note", "".into()),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("id=\"form-errors\""));
        assert_eq!(
            app.store
                .icu()
                .icu_quarantine(true, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &resolve,
            &[
                ("csrf", token.clone()),
                ("action", "discard".into()),
                ("note", "モニター点検時の送信".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        assert!(app
            .store
            .icu()
            .icu_quarantine(true, 10)
            .await
            .unwrap()
            .is_empty());
        let all = app.store.icu().icu_quarantine(false, 10).await.unwrap();
        assert_eq!(
            all[0].resolution.as_deref(),
            Some("discard: モニター点検時の送信")
        );
        // Attach after admitting: the message named the bed and the patient now admitted.
        let quarantine_nk = |patient: &str, control: &str| {
            let message = format!(
                "MSH|^~\\&|CNS|F00001|RENKEI|C|20261201120000||ORU^R01|{control}|P|2.4\r\
                 PID|||{patient}^^^F00001^PI\rPV1||I|^^BED-01\r\
                 OBR|1|||VITAL|||20261201120000\r\
                 OBX|1|NM|007000^VITAL SpO2||97|%|||||F"
            );
            IcuQuarantined {
                id: ids::new_id(),
                control_id: control.into(),
                bed_key: "BED-01".into(),
                patient_key: patient.into(),
                reason: "no admitted patient in bed BED-01".into(),
                message,
                ..q.clone()
            }
        };
        let early = quarantine_nk("ICU-001", "MSG-0050");
        let stranger = quarantine_nk("ICU-999", "MSG-0051");
        for m in [&early, &stranger] {
            app.store
                .icu()
                .icu_ingest(
                    vec![IcuIncoming {
                        facility_id: app.facility_id.clone(),
                        control_id: m.control_id.clone(),
                        received_at: m.received_at,
                        disposition: IcuDisposition::Quarantine(Box::new(m.clone())),
                    }],
                    IcuAlertChanges::default(),
                    audit("test.ingest"),
                )
                .await
                .unwrap();
        }
        let attach = |id: &str| {
            (
                format!("/icu/quarantine/{id}/resolve"),
                vec![
                    ("csrf", token.clone()),
                    ("action", "attach".to_string()),
                    ("note", "入室登録後に紐付け".to_string()),
                ],
            )
        };
        let (path, form) = attach(&stranger.id);
        let (status, _, body) = post_form(&app, &doctor, &path, &form).await;
        assert_eq!(status, 422, "another patient's message");
        assert!(body.contains("一致しません"), "{body}");
        let (path, form) = attach(&early.id);
        let (status, _, body) = post_form(&app, &doctor, &path, &form).await;
        assert_eq!(status, 303, "{body}");
        let spo2 = app
            .store
            .icu()
            .icu_values(&w.stay.id, &["spo2".into()], 0, i64::MAX)
            .await
            .unwrap();
        assert!(spo2.iter().any(|v| v.value == 97.0), "{spo2:?}");
        assert_eq!(
            app.store
                .icu()
                .icu_quarantine(true, 10)
                .await
                .unwrap()
                .len(),
            1
        );

        // Setup: the facility administrator adds a bed; it shows on the census.
        let (status, _) = get(&app, &doctor, "/icu/setup").await;
        assert_eq!(status, 403, "doctors are not facility administrators");
        let (status, html) = get(&app, &admin, "/icu/setup").await;
        assert_eq!(status, 200);
        assert!(html.contains("ICU-1"));
        let admin_token = csrf(&app, &admin).await;
        let (status, _, body) = post_form(
            &app,
            &admin,
            "/icu/setup/beds",
            &[
                ("csrf", admin_token.clone()),
                ("unit_id", w.unit.id.clone()),
                ("label", "ICU-9".into()),
                ("monitor_key", "BED-09".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (status, html) = get(&app, &admin, "/icu").await;
        assert_eq!(status, 200);
        assert!(html.contains("ICU-9"), "the new bed is on the census");
        assert!(html.contains("href=\"/icu/setup\"") && html.contains("href=\"/icu/alerts\""));
        // The same monitor key again: a form message, nothing stored.
        let (status, _, body) = post_form(
            &app,
            &admin,
            "/icu/setup/beds",
            &[
                ("csrf", admin_token.clone()),
                ("unit_id", w.unit.id.clone()),
                ("label", "ICU-10".into()),
                ("monitor_key", "BED-09".into()),
            ],
        )
        .await;
        assert_eq!(status, 422, "{body}");
        let beds = app.store.icu().icu_beds().await.unwrap();
        assert_eq!(beds.iter().filter(|b| b.unit_id == w.unit.id).count(), 2);
        // A new unit of this hospital watched by the other one (the centre).
        let other_id = app
            .store
            .get_user_by_login("otherdoc")
            .await
            .unwrap()
            .unwrap();
        let other_facility = app
            .store
            .memberships_of(&other_id.id)
            .await
            .unwrap()
            .into_iter()
            .next()
            .unwrap()
            .facility
            .id;
        let unit_form = |code: &str, colour: &str| {
            vec![
                ("csrf", admin_token.clone()),
                ("code", code.to_string()),
                ("name", "高度治療室".to_string()),
                ("kind", "hcu".to_string()),
                ("facility_id", app.facility_id.clone()),
                ("centre_facility_id", other_facility.clone()),
                ("colour", colour.to_string()),
                ("sampling_seconds", "60".to_string()),
            ]
        };
        let (status, _, body) =
            post_form(&app, &admin, "/icu/setup/units", &unit_form("HCU", "red")).await;
        assert_eq!(status, 422, "{body}");
        let (status, _, body) = post_form(
            &app,
            &admin,
            "/icu/setup/units",
            &unit_form("ICU", "#b45f1f"),
        )
        .await;
        assert_eq!(status, 422, "the code is taken: {body}");
        assert_eq!(app.store.icu().icu_units().await.unwrap().len(), 1);
        let (status, _, body) = post_form(
            &app,
            &admin,
            "/icu/setup/units",
            &unit_form("HCU", "#b45f1f"),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let hcu = app
            .store
            .icu()
            .icu_units()
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.code == "HCU")
            .unwrap();
        assert_eq!(hcu.centre_facility_id, other_facility);
        // The other hospital now watches it: its doctor sees the centre's views.
        let (status, _) = get(&app, &other, "/icu/handover").await;
        assert_eq!(status, 200);
        let (status, _) = get(&app, &other, &page).await;
        assert_eq!(
            status, 404,
            "the ICU of the first hospital is still not theirs"
        );

        // Deactivating the unit with a patient in it is refused.
        let mut edit = unit_form("ICU", "#1f6fb4");
        edit[5] = ("centre_facility_id", app.facility_id.clone());
        edit.push(("id", w.unit.id.clone()));
        let (status, _, body) = post_form(&app, &admin, "/icu/setup/units", &edit).await;
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("入室中の患者がいるユニット"));
        assert!(app
            .store
            .icu()
            .icu_units()
            .await
            .unwrap()
            .iter()
            .all(|u| u.active));

        // Deactivating an occupied bed is refused.
        let (status, _, _) = post_form(
            &app,
            &admin,
            &format!("/icu/setup/beds/{}", w.bed.id),
            &[
                ("csrf", admin_token.clone()),
                ("label", "ICU-1".into()),
                ("monitor_key", "BED-01".into()),
            ],
        )
        .await;
        assert_eq!(status, 422);
        // A code-mapping table: a wrong item refuses the whole table.
        let upload = |csv: &'static str| {
            reqwest::multipart::Form::new()
                .text("csrf", admin_token.clone())
                .text("csv", csv)
        };
        let res = admin
            .post(app.url("/icu/setup/codes"))
            .multipart(upload("99ACME,T1,temp,,,\n99ACME,T2,nonsense,,,\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 422);
        assert!(res.text().await.unwrap().contains("line 2"));
        assert!(app.store.icu().icu_code_maps().await.unwrap().is_empty());
        let res = admin
            .post(app.url("/icu/setup/codes"))
            .multipart(upload("99ACME,T1,temp,,,\nnk,007000,spo2,%,,,\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 303);
        assert_eq!(app.store.icu().icu_code_maps().await.unwrap().len(), 2);

        // Discharge with a summary; the bed's history lists the stay.
        let (status, _, _) = post_form(
            &app,
            &doctor,
            &format!("{page}/discharge"),
            &[("csrf", token.clone()), ("summary", "".into())],
        )
        .await;
        assert_eq!(status, 422);
        let (status, _, body) = post_form(
            &app,
            &doctor,
            &format!("{page}/discharge"),
            &[
                ("csrf", token.clone()),
                ("summary", "昇圧薬離脱、一般病棟へ".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let stay = app.store.icu().icu_stay(&w.stay.id).await.unwrap().unwrap();
        assert!(stay.discharged_at.is_some());
        let (status, html) = get(&app, &doctor, &page).await;
        assert_eq!(status, 200);
        assert!(html.contains("昇圧薬離脱、一般病棟へ"));
        assert!(
            !html.contains("action=\"/icu/stays/"),
            "no forms on a closed stay"
        );
    })
    .await;
}

async fn facility_of(app: &TestApp, login: &str) -> String {
    let user = app.store.get_user_by_login(login).await.unwrap().unwrap();
    app.store
        .memberships_of(&user.id)
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .facility
        .id
}

/// A unit of the test hospital watched by the other hospital: the centre calls, the
/// bedside consults, each only its own direction; nurses record the nurse round; the
/// pages speak English when asked.
#[tokio::test]
async fn centre_calls_bedside_consults_and_nurse_rounds() {
    each_backend(|app| async move {
        let (doctor, _) = app.sign_in("doctor1").await;
        let centre = facility_of(&app, "otherdoc").await;
        let w = ward_watched_by(&app, &doctor, &centre).await;
        let page = format!("/icu/stays/{}", w.stay.id);
        let calls = |app: &TestApp| {
            let store = app.store.clone();
            let id = w.stay.id.clone();
            async move {
                store
                    .icu()
                    .icu_calls(std::slice::from_ref(&id), 10)
                    .await
                    .unwrap()
            }
        };

        let (centre_doc, _) = app.sign_in("otherdoc").await;
        let (status, html) = get(&app, &centre_doc, &page).await;
        assert_eq!(status, 200, "the centre watches the unit");
        assert!(html.contains("value=\"call\"") && !html.contains("value=\"consult\""));
        let centre_token = csrf(&app, &centre_doc).await;
        let token = csrf(&app, &doctor).await;
        for (client, token, direction, expected) in [
            (&doctor, &token, "call", 422),
            (&centre_doc, &centre_token, "consult", 422),
            (&centre_doc, &centre_token, "call", 303),
            (&doctor, &token, "consult", 303),
        ] {
            let (status, _, body) = post_form(
                &app,
                client,
                &format!("{page}/calls"),
                &[
                    ("csrf", token.clone()),
                    ("direction", direction.into()),
                    ("reason", format!("{direction} の理由")),
                ],
            )
            .await;
            assert_eq!(status, expected, "{direction}: {body}");
        }
        let mut directions: Vec<String> =
            calls(&app).await.into_iter().map(|c| c.direction).collect();
        directions.sort();
        assert_eq!(directions, ["call", "consult"]);

        // The nurse round.
        let (nurse, _) = app.sign_in("nurse1").await;
        let nurse_token = csrf(&app, &nurse).await;
        let (status, _, body) = post_form(
            &app,
            &nurse,
            &format!("{page}/rounds"),
            &[
                ("csrf", nurse_token),
                ("check", "cuff_pressure".into()),
                ("check", "subglottic_suction".into()),
            ],
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let rounds = app.store.icu().icu_rounds(&w.stay.id).await.unwrap();
        assert_eq!(rounds[0].role, "nurse");

        // The handover shows today's nurse round and both open calls, in English too.
        let res = doctor
            .get(app.url("/lang/en?back=/icu/handover"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{}", res.status());
        let (status, html) = get(&app, &doctor, "/icu/handover").await;
        assert_eq!(status, 200);
        assert!(html.contains("Handover") && html.contains("Critical-care nurse round ✓"));
        assert!(html.contains("call の理由") && html.contains("consult の理由"));
        let (status, html) = get(&app, &doctor, &page).await;
        assert_eq!(status, 200);
        assert!(html.contains("Intensivist round") && html.contains("Cuff pressure"));
    })
    .await;
}
