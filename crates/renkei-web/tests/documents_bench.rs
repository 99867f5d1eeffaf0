//! PDF generation time per document (issue 5: < 300 ms). Ignored by default;
//! `bash bench/documents.sh` runs it in a release build. Times (1) `pdf::render` alone on a
//! fully filled 診療情報提供書 (font already loaded: font subsetting, layout, compression)
//! and (2) `GET /patients/{id}/documents/{doc}/pdf` through the real server (access
//! decision, reads, audit record, rendering), sequentially after three warm-up requests.
//! Prints one JSON line per measurement.

mod testkit;

use serde_json::json;
use std::time::Instant;
use testkit::{csrf, TestApp};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95), *ms.last().unwrap())
}

/// About a page and a half of Japanese text over the fields.
fn long_text(seed: &str, chars: usize) -> String {
    let base =
        format!("{seed}：令和8年11月より呼吸困難が増悪し当院へ入院。利尿薬の調整により改善。");
    base.chars().cycle().take(chars).collect()
}

#[tokio::test]
#[ignore = "benchmark: bash bench/documents.sh"]
async fn pdf_generation_time() {
    let runs = env_usize("DOCUMENTS_BENCH_RUNS", 50);
    let app = TestApp::spawn(testkit::Backend::Sqlite).await;
    let (doctor, _) = app.sign_in("doctor1").await;
    let token = csrf(&app, &doctor).await;
    let res = doctor
        .post(app.url("/patients/new"))
        .form(&[
            ("csrf", token.clone()),
            ("local_id", "BENCH-PDF".into()),
            ("family_kanji", "苫小牧".into()),
            ("given_kanji", "花子".into()),
            ("family_kana", "とまこまい".into()),
            ("given_kana", "はなこ".into()),
            ("birth_date", "1938-04-12".into()),
            ("sex", "female".into()),
            ("postal_code", "053-0022".into()),
            ("address", "北海道苫小牧市表町1丁目2-3".into()),
            ("phone", "0144-32-1111".into()),
            ("care_level", "care2".into()),
        ])
        .send()
        .await
        .unwrap();
    let person = res.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/patients/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let res = doctor
        .post(app.url(&format!("/patients/{person}/documents")))
        .form(&[("csrf", token.clone()), ("kind", "referral".into())])
        .send()
        .await
        .unwrap();
    let doc_path = res.headers()["location"]
        .to_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let fields = [
        ("purpose", long_text("紹介目的", 200)),
        ("diagnosis", "慢性心不全、2型糖尿病、高血圧症".to_string()),
        ("history", long_text("既往歴", 300)),
        ("course", long_text("経過", 1500)),
        ("medication", long_text("処方", 400)),
        ("allergies", "ペニシリン系抗菌薬（発疹）".to_string()),
        ("remarks", long_text("備考", 300)),
    ];
    let mut form: Vec<(&str, String)> = vec![
        ("csrf", token.clone()),
        ("version", "1".into()),
        ("action", "save".into()),
    ];
    form.extend(fields.iter().map(|(k, v)| (*k, v.clone())));
    let res = doctor
        .post(app.url(&doc_path))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // (1) Rendering alone.
    let font = renkei_web::pdf::load_font(None).expect("a Japanese font");
    let sheet = || renkei_web::pdf::Sheet {
        title: "診療情報提供書".into(),
        date_line: "作成日 2026-12-03 10:00".into(),
        draft_mark: None,
        header: vec![
            renkei_web::pdf::Item {
                label: "宛先".into(),
                value: "テスト居宅介護支援事業所".into(),
            },
            renkei_web::pdf::Item {
                label: "患者氏名".into(),
                value: "苫小牧 花子（とまこまい はなこ）".into(),
            },
        ],
        items: fields
            .iter()
            .map(|(k, v)| renkei_web::pdf::Item {
                label: k.to_string(),
                value: v.clone(),
            })
            .collect(),
        footer: "bench".into(),
    };
    let mut render_ms = Vec::new();
    let mut bytes = 0;
    for i in 0..runs + 3 {
        let s = sheet();
        let t = Instant::now();
        let pdf = renkei_web::pdf::render(&font, &s).unwrap();
        if i >= 3 {
            render_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        bytes = pdf.len();
        if i == 0 {
            // To look at the layout: DOCUMENTS_BENCH_SAVE=/tmp/referral.pdf
            if let Ok(path) = std::env::var("DOCUMENTS_BENCH_SAVE") {
                std::fs::write(path, &pdf).unwrap();
            }
        }
    }
    let (p50, p95, max) = summary(render_ms);
    // A line of its own (the test harness has just printed the test's name).
    println!();
    println!(
        "{}",
        json!({"bench": "pdf_render", "runs": runs, "bytes": bytes, "p50_ms": p50, "p95_ms": p95, "max_ms": max, "target_ms": 300, "met": p95 < 300.0})
    );

    // (2) Through the server.
    let mut http_ms = Vec::new();
    for i in 0..runs + 3 {
        let t = Instant::now();
        let res = doctor
            .get(app.url(&format!("{doc_path}/pdf")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body = res.bytes().await.unwrap();
        assert!(body.starts_with(b"%PDF-"));
        if i >= 3 {
            http_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let (p50, p95, max) = summary(http_ms);
    println!(
        "{}",
        json!({"bench": "pdf_download", "runs": runs, "p50_ms": p50, "p95_ms": p95, "max_ms": max, "target_ms": 300, "met": p95 < 300.0})
    );
}
