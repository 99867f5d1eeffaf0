//! Backend parity: the shared storage suite against SQLite and PostgreSQL.
//!
//! PostgreSQL runs when `RENKEI_TEST_POSTGRES_URL` names a server (the test command starts
//! one); each run creates its own database there. Under CI a missing URL is a failure,
//! not a skip.

use renkei_storage::testsuite;
use renkei_storage::Store;
use renkei_storage_sql::{PostgresStore, SqliteStore};

#[tokio::test]
async fn sqlite_passes_the_storage_suite() {
    let dir = tempdir();
    let store = SqliteStore::open(&dir.join("renkei.db"), 4).await.unwrap();
    testsuite::run_all(&store).await;
}

#[tokio::test]
async fn postgres_passes_the_storage_suite() {
    let Some(store) = fresh_postgres().await else {
        return;
    };
    testsuite::run_all(&store).await;
}

/// SQLite writes queue behind one writer instead of failing with SQLITE_BUSY.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_writes_never_fail_busy() {
    let dir = tempdir();
    let store = std::sync::Arc::new(SqliteStore::open(&dir.join("renkei.db"), 4).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(renkei_domain::audit::AuditEntry::new(
                    &format!("test.{i}"),
                    renkei_domain::audit::Outcome::Success,
                ))
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(store.audit_head().await.unwrap().unwrap().0, 200);
}

/// Concurrent appends from many connections keep one unbroken chain on PostgreSQL too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_appends_keep_one_chain() {
    let Some(store) = fresh_postgres().await else {
        return;
    };
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(renkei_domain::audit::AuditEntry::new(
                    &format!("test.{i}"),
                    renkei_domain::audit::Outcome::Success,
                ))
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let records = store.audit_after(0, 1000).await.unwrap();
    let mut v = renkei_domain::audit::ChainVerifier::new();
    for r in &records {
        v.push(r).unwrap();
    }
    assert_eq!(v.checked(), 100);
}

/// The append-only triggers refuse updates and deletes through ordinary SQL.
#[tokio::test]
async fn audit_log_refuses_update_and_delete() {
    let dir = tempdir();
    let store = SqliteStore::open(&dir.join("renkei.db"), 2).await.unwrap();
    store
        .append_audit(renkei_domain::audit::AuditEntry::new(
            "x",
            renkei_domain::audit::Outcome::Success,
        ))
        .await
        .unwrap();
    let upd = sqlx::query("UPDATE audit_log SET outcome = 'failure'")
        .execute(store.writer_pool())
        .await;
    assert!(upd.unwrap_err().to_string().contains("append-only"));
    let del = sqlx::query("DELETE FROM audit_log")
        .execute(store.writer_pool())
        .await;
    assert!(del.unwrap_err().to_string().contains("append-only"));
    if let Some(pg) = fresh_postgres().await {
        pg.append_audit(renkei_domain::audit::AuditEntry::new(
            "x",
            renkei_domain::audit::Outcome::Success,
        ))
        .await
        .unwrap();
        let upd = sqlx::query("UPDATE audit_log SET outcome = 'failure'")
            .execute(pg.pool())
            .await;
        assert!(upd.unwrap_err().to_string().contains("append-only"));
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("renkei-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two nodes on one PostgreSQL: an event published on one reaches subscribers of the
/// other (LISTEN/NOTIFY), which is what live pages behind a load balancer rely on.
#[tokio::test]
async fn postgres_events_cross_nodes() {
    let Some(first) = fresh_postgres().await else {
        return;
    };
    let url = first.connect_url().to_string();
    let second = PostgresStore::connect(&url, 2).await.unwrap();
    let mut on_second = second.subscribe_events();
    first.publish_event("icu", "beds=7").await.unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(5), on_second.recv())
        .await
        .expect("the event crosses nodes within 5 s")
        .unwrap();
    assert_eq!(
        (event.topic.as_str(), event.payload.as_str()),
        ("icu", "beds=7")
    );
}

async fn fresh_postgres() -> Option<PostgresStore> {
    let Ok(url) = std::env::var("RENKEI_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI must test PostgreSQL: set RENKEI_TEST_POSTGRES_URL");
        }
        eprintln!("RENKEI_TEST_POSTGRES_URL not set: PostgreSQL parity not checked here");
        return None;
    };
    let name = format!("renkei_test_{}", uuid::Uuid::new_v4().simple());
    let db_url = renkei_storage_sql::create_postgres_database(&url, &name)
        .await
        .expect("create a test database on RENKEI_TEST_POSTGRES_URL");
    Some(PostgresStore::connect(&db_url, 8).await.unwrap())
}

/// The whole demo network, patients included, loads in one transaction on both backends
/// and reads back the same.
#[tokio::test]
async fn demo_network_imports_on_both_backends() {
    let network = renkei_demo::generate(&renkei_demo::DemoOptions {
        seed: 11,
        password_hash: "$argon2id$x".into(),
        totp_secret: "JBSWY3DPEHPK3PXP".into(),
    });
    let expected_records = network.import.patients.records.len();
    let hospital_login = network
        .logins
        .iter()
        .position(|l| l.login_id == "hospital.doctor")
        .unwrap();
    let hospital = network.import.users[hospital_login].memberships[0]
        .0
        .clone();
    let dir = tempdir();
    let sqlite = SqliteStore::open(&dir.join("renkei.db"), 2).await.unwrap();
    let mut stores: Vec<Box<dyn Store>> = vec![Box::new(sqlite)];
    if let Some(pg) = fresh_postgres().await {
        stores.push(Box::new(pg));
    }
    for store in stores {
        store
            .import_network(
                network.import.clone(),
                renkei_domain::audit::AuditEntry::new(
                    "demo.seed",
                    renkei_domain::audit::Outcome::Success,
                ),
            )
            .await
            .unwrap();
        let facilities = store
            .search_facilities(&renkei_storage::FacilityQuery {
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(facilities.total as usize, network.import.facilities.len());
        let mut records = 0;
        for (person, _) in &network.import.patients.persons {
            records += store.person_records(person).await.unwrap().len();
        }
        assert_eq!(records, expected_records, "{}", store.backend_name());
        let hospital_patients = store.team_patients(&hospital, None, 1000).await.unwrap();
        assert!(
            hospital_patients.len() >= 240,
            "{}",
            hospital_patients.len()
        );
        assert_eq!(store.open_match_reviews(10).await.unwrap().len(), 3);
    }
}
