//! Timeline page latency with 10,000 posts on one patient (issue 5: p95 < 100 ms). Ignored
//! by default; `bash bench/timeline.sh` runs it in a release build. Loads the posts through
//! the clinical write path (`clinical::import`: validation, sender stamp, Provenance, audit),
//! then times sequential page views through the real server, as the sender's facility and
//! as the other facility of the care team (shared through the consent), and prints one JSON
//! line per measurement.

mod testkit;

use renkei_core::clinical::{self, Author, ImportBatch};
use renkei_domain::patient::Requester;
use renkei_domain::{FacilityType, Profession};
use serde_json::json;
use std::time::Instant;
use testkit::{csrf, TestApp};

const POSTS: usize = 10_000;
const REPLIES: usize = 1_000;
const RUNS: usize = 60;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn form(app: &TestApp, c: &reqwest::Client, path: &str, f: &[(&str, String)]) {
    let res = c.post(app.url(path)).form(f).send().await.unwrap();
    assert_eq!(res.status(), 303, "{path}: {}", res.text().await.unwrap());
}

async fn setup(app: &TestApp) -> (reqwest::Client, reqwest::Client, String) {
    let (doctor, _) = app.sign_in("doctor1").await;
    let (other, _) = app.sign_in("otherdoc").await;
    let token = csrf(app, &doctor).await;
    let res = doctor
        .post(app.url("/patients/new"))
        .form(&[
            ("csrf", token.clone()),
            ("local_id", "BENCH-1".into()),
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
    form(
        app,
        &doctor,
        &format!("/patients/{person}/consent"),
        &[
            ("csrf", token.clone()),
            ("scope", "comprehensive".into()),
            ("form", "written".into()),
            ("signer", "patient".into()),
        ],
    )
    .await;
    form(
        app,
        &doctor,
        &format!("/patients/{person}/team/invite"),
        &[("csrf", token), ("facility", "F00002".into())],
    )
    .await;
    let t = csrf(app, &other).await;
    form(
        app,
        &other,
        &format!("/invitations/{person}"),
        &[("csrf", t), ("answer", "accept".into())],
    )
    .await;
    (doctor, other, person)
}

async fn load(app: &TestApp, person: &str, posts: usize, replies: usize) -> f64 {
    let user = app
        .store
        .get_user_by_login("doctor1")
        .await
        .unwrap()
        .unwrap();
    let author = Author {
        requester: Requester {
            user_id: user.id.clone(),
            facility_id: Some(app.facility_id.clone()),
            facility_type: Some(FacilityType::Hospital),
            profession: Profession::Physician,
            is_secretariat: false,
        },
        login_id: "doctor1".into(),
        facility_id: app.facility_id.clone(),
        source_system: "bench".into(),
        ip: None,
        user_agent: None,
    };
    let kinds = [
        "observation",
        "instruction",
        "report",
        "consultation",
        "other",
    ];
    let base = chrono::Utc::now().timestamp_millis() - (posts as i64 + 10) * 60_000;
    let started = Instant::now();
    let mut top_ids = Vec::with_capacity(posts);
    let mut resources = Vec::with_capacity(posts + replies);
    for i in 0..posts {
        let id = format!("bench-post-{i:05}");
        top_ids.push(id.clone());
        resources.push((
            id,
            json!({
                "resourceType": "Communication", "status": "completed",
                "category": [{"coding": [{"system": "https://renkei.example.jp/fhir/CodeSystem/timeline-kind", "code": kinds[i % 5]}]}],
                "priority": if i % 17 == 0 { "urgent" } else { "routine" },
                "subject": {"reference": format!("Patient/{person}")},
                "sent": clinical::instant(base + i as i64 * 60_000),
                "sender": {"display": "テスト 医師1（医師）"},
                "payload": [{"contentString": format!("経過記録 {i}: 下肢浮腫は軽度、食事摂取量は8割。\n夜間の睡眠は良好。")}],
            }),
        ));
    }
    for j in 0..replies {
        let parent = &top_ids[posts - 1 - (j * 7) % posts];
        resources.push((
            format!("bench-reply-{j:05}"),
            json!({
                "resourceType": "Communication", "status": "completed",
                "category": [{"coding": [{"system": "https://renkei.example.jp/fhir/CodeSystem/timeline-kind", "code": "report"}]}],
                "priority": "routine",
                "subject": {"reference": format!("Patient/{person}")},
                "sent": clinical::instant(base + (posts + j) as i64 * 60_000),
                "sender": {"display": "テスト 医師1（医師）"},
                "inResponseTo": [{"reference": format!("Communication/{parent}")}],
                "payload": [{"contentString": "承知しました。"}],
            }),
        ));
    }
    for chunk in resources.chunks(2_000) {
        clinical::import(
            app.store.as_ref(),
            vec![ImportBatch {
                author: author.clone(),
                patient: format!("Patient/{person}"),
                resources: chunk.to_vec(),
            }],
            "fhir.create",
            chrono::Utc::now().timestamp_millis(),
        )
        .await
        .unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn time_page(
    app: &TestApp,
    c: &reqwest::Client,
    path: &str,
    marker: &str,
    runs: usize,
) -> (f64, f64, f64) {
    // Warm-up (caches, statement preparation).
    for _ in 0..3 {
        let res = c.get(app.url(path)).send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
    }
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let res = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body = res.text().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(body.contains(marker), "{path}");
    }
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms[ms.len() - 1],
    )
}

async fn run(app: TestApp, analyze: Option<&str>) {
    let posts = env_usize("TIMELINE_BENCH_POSTS", POSTS);
    let replies = env_usize("TIMELINE_BENCH_REPLIES", REPLIES);
    let runs = env_usize("TIMELINE_BENCH_RUNS", RUNS);
    let backend = app.backend_name();
    let (doctor, other, person) = setup(&app).await;
    let load_s = load(&app, &person, posts, replies).await;
    if let Some(url) = analyze {
        // Table statistics, as autovacuum would gather them on a live server (PostgreSQL
        // plans the first queries after a bulk load without them otherwise; bench/fhir.sh
        // does the same).
        let ok = std::process::Command::new("psql")
            .args([url, "-qc", "ANALYZE"])
            .status()
            .expect("psql is needed for the PostgreSQL run")
            .success();
        assert!(ok, "ANALYZE failed");
    }
    println!(
        "{}",
        json!({"bench": "timeline_load", "backend": backend, "posts": posts, "replies": replies, "seconds": (load_s * 10.0).round() / 10.0})
    );
    let last_page = posts.div_ceil(50);
    for (who, client) in [("own_facility", &doctor), ("care_team", &other)] {
        for (page, path, marker) in [
            (
                "first",
                format!("/patients/{person}/timeline"),
                "class=\"card post",
            ),
            (
                "last",
                format!("/patients/{person}/timeline?page={last_page}"),
                "class=\"card post",
            ),
            (
                "patient_page_unread",
                format!("/patients/{person}"),
                "timeline-link",
            ),
        ] {
            let (p50, p95, max) = time_page(&app, client, &path, marker, runs).await;
            println!(
                "{}",
                json!({"bench": "timeline_page", "backend": backend, "viewer": who, "page": page,
                       "runs": runs, "p50_ms": (p50 * 10.0).round() / 10.0,
                       "p95_ms": (p95 * 10.0).round() / 10.0, "max_ms": (max * 10.0).round() / 10.0,
                       "target_p95_ms": 100})
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bash bench/timeline.sh"]
async fn timeline_page_with_ten_thousand_posts() {
    run(TestApp::spawn(testkit::Backend::Sqlite).await, None).await;
    if std::env::var("TIMELINE_BENCH_SQLITE_ONLY").is_err() {
        if let Ok(server) = std::env::var("RENKEI_TEST_POSTGRES_URL") {
            let name = format!("renkei_timeline_bench_{}", renkei_domain::ids::new_id());
            let mut url = renkei_storage_sql::create_postgres_database(&server, &name)
                .await
                .unwrap();
            // e.g. `-c plan_cache_mode=force_custom_plan`, to compare server settings.
            if let Ok(options) = std::env::var("TIMELINE_BENCH_PG_OPTIONS") {
                url = format!(
                    "{url}?options={}",
                    options.replace(' ', "%20").replace('=', "%3D")
                );
            }
            let app = TestApp::spawn(testkit::Backend::Postgres(url.clone())).await;
            run(app, Some(&url)).await;
        }
    }
}
