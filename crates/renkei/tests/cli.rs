//! The binary as an operator uses it: admin bootstrap, API clients, audit verification
//! against real tampering, audit export, and the demo-database guard.

mod common;

use common::{renkei, stdout, temp_dir, wait_ready};
use std::path::Path;
use std::process::Command;

fn seed(dir: &Path) {
    let d = dir.to_str().unwrap();
    for (login, name) in [
        ("sec.one", "事務局 一郎"),
        ("sec.two", "事務局 二郎"),
        ("sec.three", "事務局 三郎"),
    ] {
        let o = renkei(&[
            "admin",
            "--data-dir",
            d,
            "create-secretariat",
            "--login-id",
            login,
            "--name",
            name,
            "--kana",
            "じむきょく",
            "--email",
            "sec@example.jp",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout(&o).contains("/setup/"), "prints a setup link");
    }
}

async fn tamper(dir: &Path, sql: &[&str]) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", dir.join("renkei.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for stmt in sql {
        sqlx::query(stmt).execute(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn audit_verify_finds_alteration_deletion_and_truncation() {
    let dir = temp_dir();
    seed(&dir);
    let d = dir.to_str().unwrap();
    let ok = renkei(&["audit", "--data-dir", d, "verify"]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("intact: 3 records"), "{}", stdout(&ok));

    // An attacker with database access first has to drop the append-only triggers.
    tamper(
        &dir,
        &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
            "UPDATE audit_log SET actor_login = 'someone-else' WHERE seq = 2",
        ],
    )
    .await;
    let altered = renkei(&["audit", "--data-dir", d, "verify"]);
    assert_eq!(altered.status.code(), Some(1));
    assert!(
        stdout(&altered).contains("record 2 was altered"),
        "{}",
        stdout(&altered)
    );

    let dir2 = temp_dir();
    seed(&dir2);
    tamper(
        &dir2,
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq = 2",
        ],
    )
    .await;
    let deleted = renkei(&["audit", "--data-dir", dir2.to_str().unwrap(), "verify"]);
    assert_eq!(deleted.status.code(), Some(1));
    assert!(
        stdout(&deleted).contains("records 2..2 are missing"),
        "{}",
        stdout(&deleted)
    );

    let dir3 = temp_dir();
    seed(&dir3);
    tamper(
        &dir3,
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq = 3",
        ],
    )
    .await;
    let truncated = renkei(&["audit", "--data-dir", dir3.to_str().unwrap(), "verify"]);
    assert_eq!(truncated.status.code(), Some(1));
    assert!(
        stdout(&truncated).contains("head says 3"),
        "{}",
        stdout(&truncated)
    );
}

#[tokio::test]
async fn audit_export_jsonl_and_csv() {
    let dir = temp_dir();
    seed(&dir);
    let d = dir.to_str().unwrap();
    let jsonl = renkei(&["audit", "--data-dir", d, "export", "--format", "jsonl"]);
    assert!(jsonl.status.success());
    let lines: Vec<serde_json::Value> = stdout(&jsonl)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["action"], "user.create_secretariat");
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    let out = dir.join("audit.csv");
    let csv = renkei(&[
        "audit",
        "--data-dir",
        d,
        "export",
        "--format",
        "csv",
        "--from",
        "2000-01-01",
        "--to",
        "2999-12-31",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(csv.status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    let none = renkei(&[
        "audit",
        "--data-dir",
        d,
        "export",
        "--from",
        "2000-01-01",
        "--to",
        "2000-01-02",
    ]);
    assert_eq!(stdout(&none).lines().count(), 0);
    let bad = renkei(&["audit", "--data-dir", d, "export", "--from", "yesterday"]);
    assert!(!bad.status.success());
}

#[test]
fn admin_rejects_bad_input_and_lists_users() {
    let dir = temp_dir();
    let d = dir.to_str().unwrap();
    let bad = renkei(&[
        "admin",
        "--data-dir",
        d,
        "create-secretariat",
        "--login-id",
        "山田",
        "--name",
        "x",
        "--email",
        "a@example.jp",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--login-id"));
    seed(&dir);
    let dup = renkei(&[
        "admin",
        "--data-dir",
        d,
        "create-secretariat",
        "--login-id",
        "sec.one",
        "--name",
        "x",
        "--email",
        "a@example.jp",
    ]);
    assert!(!dup.status.success());
    let list = renkei(&["admin", "--data-dir", d, "list-users"]);
    assert!(
        stdout(&list).contains("sec.two") && stdout(&list).contains("awaiting setup"),
        "{}",
        stdout(&list)
    );
    let reset = renkei(&["admin", "--data-dir", d, "reset", "--login-id", "sec.two"]);
    assert!(reset.status.success() && stdout(&reset).contains("/setup/"));
}

#[test]
fn serve_refuses_a_demo_database_without_demo_flag_and_demo_refuses_a_real_one() {
    let real = temp_dir();
    seed(&real);
    let o = renkei(&[
        "demo",
        "--data-dir",
        real.to_str().unwrap(),
        "--http-addr",
        "127.0.0.1:0",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds a real network"));

    // Seed a demo database by starting demo mode once, then stop it.
    let demo = temp_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args([
            "demo",
            "--data-dir",
            demo.to_str().unwrap(),
            "--http-addr",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let o = renkei(&[
        "serve",
        "--data-dir",
        demo.to_str().unwrap(),
        "--http-addr",
        "127.0.0.1:0",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds the demo network"));
    // The demo's clinical data went through the write path: one audit record per author
    // and patient, appended in bulk, and the chain is still intact.
    let verify = renkei(&["audit", "--data-dir", demo.to_str().unwrap(), "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    let records: usize = stdout(&verify)
        .split("intact: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(records > 500, "{}", stdout(&verify));
}

/// HTTPS with a certificate from files, and a graceful stop on SIGTERM.
#[test]
fn serves_tls_and_stops_on_sigterm() {
    let dir = temp_dir();
    seed(&dir);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ])
        .output()
        .expect("openssl is needed for the TLS test");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args([
            "serve",
            "--data-dir",
            dir.to_str().unwrap(),
            "--http-addr",
            "127.0.0.1:0",
            "--mllp-addr",
            "off",
        ])
        .args([
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = wait_ready(&mut child).pop().expect("ready line");
    let url = line.split_whitespace().nth(3).unwrap().to_string();
    assert!(url.starts_with("https://"), "{line}");
    let body = std::process::Command::new("curl")
        .args(["-sk", &format!("{url}/healthz")])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&body.stdout);
    assert!(text.contains("\"status\":\"ok\""), "{text}");
    let headers = std::process::Command::new("curl")
        .args(["-skI", &format!("{url}/login")])
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout).to_lowercase();
    assert!(headers.contains("strict-transport-security"), "{headers}");
    assert!(
        headers.contains("__host-renkei_csrf") || headers.contains("secure"),
        "{headers}"
    );
    // SIGTERM: the server finishes and exits 0.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// The code of some facility in `status` of a (demo) database.
async fn facility_code(dir: &Path, status: &str) -> String {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", dir.join("renkei.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query_scalar(
        "SELECT code FROM facilities WHERE status = ? AND code IS NOT NULL ORDER BY code LIMIT 1",
    )
    .bind(status)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// `admin create-api-client` while the server runs: the printed credentials get a token at
/// once; unknown or inactive facilities and malformed scopes are refused; audited.
#[tokio::test]
async fn admin_creates_api_clients_for_active_facilities() {
    let dir = temp_dir();
    let d = dir.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["demo", "--data-dir", d, "--http-addr", "127.0.0.1:0"])
        .env_remove("RENKEI_CONFIG")
        // Standard output is closed after the ready line; keep the log quiet.
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = wait_ready(&mut child).pop().expect("ready line");
    let url = line.split_whitespace().nth(3).unwrap().to_string();
    let active = facility_code(&dir, "active").await;
    let create = |facility: &str, scopes: &str, json: bool| {
        let mut args = vec![
            "admin",
            "--data-dir",
            d,
            "create-api-client",
            "--facility",
            facility,
            "--name",
            "電子カルテ",
            "--scopes",
            scopes,
        ];
        if json {
            args.push("--json");
        }
        renkei(&args)
    };

    // Scopes are normalized as on the web page: `system/*.read` covers Observation.rs.
    let o = create(
        &active.to_lowercase(),
        "system/Observation.rs system/*.read",
        true,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let issued: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(issued["facility_code"], active.as_str());
    assert_eq!(issued["scopes"], "system/*.rs");
    let client_id = issued["client_id"].as_str().unwrap().to_string();
    assert!(
        client_id.starts_with("c-") && client_id.len() == 18,
        "{client_id}"
    );
    let token = Command::new("curl")
        .args(["-s", "-u"])
        .arg(format!(
            "{client_id}:{}",
            issued["client_secret"].as_str().unwrap()
        ))
        .args(["-d", "grant_type=client_credentials"])
        .arg(format!("{url}/oauth/token"))
        .output()
        .expect("curl");
    let token: serde_json::Value = serde_json::from_slice(&token.stdout).unwrap();
    assert_eq!(token["token_type"], "bearer", "{token}");
    assert_eq!(token["scope"], "system/*.rs");

    let text = create(&active, "system/*.cruds", false);
    assert!(text.status.success());
    assert!(
        stdout(&text).contains("client_secret: ") && stdout(&text).contains("system/*.cruds"),
        "{}",
        stdout(&text)
    );

    for (facility, scopes, problem) in [
        ("F99999", "system/*.rs", "no facility"),
        (
            facility_code(&dir, "suspended").await.as_str(),
            "system/*.rs",
            "not an active member",
        ),
        (active.as_str(), "system/Observation.sr", "--scopes"),
        (active.as_str(), "patient/*.read", "--scopes"),
        (active.as_str(), " ", "at least one scope"),
    ] {
        let o = create(facility, scopes, true);
        assert!(!o.status.success(), "{facility} {scopes}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(problem), "{facility} {scopes}: {err}");
    }

    let audit = renkei(&["audit", "--data-dir", d, "export", "--format", "jsonl"]);
    let records: Vec<serde_json::Value> = stdout(&audit)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["action"] == "api_client.create")
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["target_id"], client_id.as_str());
    assert!(records[0]["actor_login"]
        .as_str()
        .unwrap()
        .starts_with("cli:"));
    assert!(
        !records[0]["detail"]
            .as_str()
            .unwrap()
            .contains(issued["client_secret"].as_str().unwrap()),
        "the secret is never recorded"
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_refuses_a_wrong_icu_alert_rules_file_naming_each_problem() {
    let dir = temp_dir();
    seed(&dir);
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"spo2.low\"\nclear_at = 80\n\n[[rule]]\nid = \"x.new\"\nitem = \"nope\"\n",
    )
    .unwrap();
    let config = dir.join("renkei.toml");
    std::fs::write(
        &config,
        format!(
            "mllp_addr = \"127.0.0.1:0\"\nicu_alert_rules_file = {:?}\n",
            rules.to_str().unwrap()
        ),
    )
    .unwrap();
    let o = renkei(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "--http-addr",
        "127.0.0.1:0",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rule spo2.low: a `below` rule clears"),
        "{err}"
    );
    assert!(
        err.contains("rule x.new: a new rule needs direction"),
        "{err}"
    );
}

#[test]
fn icu_test_data_erasure_runs_and_is_audited() {
    let dir = temp_dir();
    seed(&dir);
    let o = renkei(&[
        "admin",
        "--data-dir",
        dir.to_str().unwrap(),
        "icu-erase-test-data",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("0 test stays erased"), "{}", stdout(&o));
    let export = renkei(&["audit", "--data-dir", dir.to_str().unwrap(), "export"]);
    assert!(stdout(&export).contains("icu.test_data.erase"));
}
