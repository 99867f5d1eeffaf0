//! Clinical data arriving from hospital systems, through the real binary: the SS-MIX2
//! collector on the NHO sample storage, and HL7 v2 over a real MLLP socket.

mod common;

use common::{demo_data_dir, renkei, start_demo, stderr, stdout};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/ssmix2-nho-sample/storage"
);

fn fixture() -> PathBuf {
    let p = PathBuf::from(FIXTURE);
    assert!(p.is_dir(), "the SS-MIX2 fixture is at {FIXTURE}");
    p
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn count(dir: &Path, sql: &str) -> i64 {
    use sqlx::Connection;
    let url = format!("sqlite://{}", dir.join("renkei.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

const VERSIONS: &str = "SELECT COUNT(*) FROM fhir_versions";

fn collect(data: &Path, root: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "collect",
        "ssmix2",
        "--data-dir",
        data.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--facility",
        "F00006",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    renkei(&args)
}

#[tokio::test]
async fn ssmix2_collector_is_idempotent_incremental_and_reports_broken_files() {
    let data = demo_data_dir();
    let root = data.join("storage");
    copy_tree(&fixture(), &root);
    let report = data.join("report.jsonl");

    let first = collect(&data, &root, &["--report", report.to_str().unwrap()]);
    let summary = stdout(&first);
    // The sample holds one file whose content is not HL7 (a deliberately broken sample):
    // reported, the run goes on, exit status 3.
    assert_eq!(first.status.code(), Some(3), "{summary}{}", stderr(&first));
    assert!(summary.contains("22 files"), "{summary}");
    assert!(summary.contains("14 stored"), "{summary}");
    assert!(
        summary.contains("7 of types not mapped to FHIR"),
        "{summary}"
    );
    assert!(summary.contains("1 with errors"), "{summary}");
    assert!(summary.contains("files/s"), "{summary}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0]["path"].as_str().unwrap().contains("ADT-31"));
    assert!(lines[0]["error"].as_str().unwrap().contains("MSH"));

    let versions = count(&data, VERSIONS).await;
    let live = |t: &str| {
        format!("SELECT COUNT(*) FROM fhir_resources WHERE resource_type = '{t}' AND deleted = 0")
    };
    assert!(count(&data, &live("MedicationRequest")).await >= 3);
    assert!(count(&data, &live("Observation")).await >= 10);
    assert!(count(&data, &live("AllergyIntolerance")).await >= 1);
    assert!(count(&data, &live("Encounter")).await >= 1);
    assert!(count(&data, &live("Provenance")).await >= 1);
    let registered = count(
        &data,
        "SELECT COUNT(*) FROM fhir_resources f WHERE f.resource_type = 'Patient'",
    )
    .await;

    // A second run reads only what failed before and stores nothing.
    let second = collect(&data, &root, &[]);
    let summary = stdout(&second);
    assert!(summary.contains("21 already collected"), "{summary}");
    assert!(summary.contains("0 versions stored"), "{summary}");
    assert_eq!(count(&data, VERSIONS).await, versions);

    // Re-reading everything (--rescan) still changes nothing.
    let rescan = collect(&data, &root, &["--rescan"]);
    let summary = stdout(&rescan);
    assert!(summary.contains("0 already collected"), "{summary}");
    assert!(summary.contains("0 versions stored"), "{summary}");
    assert_eq!(count(&data, VERSIONS).await, versions);
    assert_eq!(
        count(
            &data,
            "SELECT COUNT(*) FROM fhir_resources f WHERE f.resource_type = 'Patient'"
        )
        .await,
        registered
    );

    // A new file arriving is picked up on the next run, and only it.
    let source = root.join("999/901/9999013/20110701/OMP-01");
    let original = std::fs::read_dir(&source).unwrap().next().unwrap().unwrap();
    let newer = root.join("999/901/9999013/20110702/OMP-01");
    std::fs::create_dir_all(&newer).unwrap();
    std::fs::copy(
        original.path(),
        newer.join("9999013_20110702_OMP-01_000000011000999_20110702100000000_01_1"),
    )
    .unwrap();
    let third = collect(&data, &root, &[]);
    let summary = stdout(&third);
    assert!(summary.contains("23 files"), "{summary}");
    assert!(summary.contains("21 already collected"), "{summary}");
    assert!(summary.contains("1 stored"), "{summary}");

    // An unknown facility is refused before anything is read.
    let wrong = renkei(&[
        "collect",
        "ssmix2",
        "--data-dir",
        data.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--facility",
        "F99999",
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("no facility F99999"),
        "{}",
        stderr(&wrong)
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// Sends one MLLP frame and returns the decoded reply.
fn exchange(stream: &mut std::net::TcpStream, payload: &[u8]) -> String {
    let mut frame = vec![0x0b];
    frame.extend_from_slice(payload);
    frame.extend_from_slice(&[0x1c, 0x0d]);
    stream.write_all(&frame).unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        stream.read_exact(&mut byte).unwrap();
        reply.push(byte[0]);
        if reply.ends_with(&[0x1c, 0x0d]) {
            break;
        }
    }
    assert_eq!(reply[0], 0x0b, "MLLP start block");
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).replace('\r', "\n")
}

/// The fixture message with MSH-4 (sending facility) replaced.
fn from_facility(file: &Path, facility: &str) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let end = bytes.iter().position(|&b| b == b'\r').unwrap();
    let msh = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let mut fields: Vec<&str> = msh.split('|').collect();
    fields[3] = facility;
    let mut out = fields.join("|").into_bytes();
    out.extend_from_slice(&bytes[end..]);
    out
}

fn first_file(dir: &str) -> PathBuf {
    std::fs::read_dir(fixture().join(dir))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn ack_code(reply: &str) -> &str {
    reply
        .lines()
        .find(|l| l.starts_with("MSA|"))
        .and_then(|l| l.split('|').nth(1))
        .unwrap_or("")
}

#[tokio::test]
async fn hl7_over_mllp_is_acknowledged_after_storage() {
    let data = demo_data_dir();
    let (mut server, lines) = start_demo(&data, &["--mllp-addr", "127.0.0.1:0"]);
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("renkei mllp on "))
        .expect("the MLLP address is printed")
        .to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();

    let prescription = from_facility(&first_file("999/901/9999013/20110701/OMP-01"), "F00006");
    let reply = exchange(&mut stream, &prescription);
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    assert!(
        reply.contains("MSA|AA|20110701000001"),
        "echoes MSH-10: {reply}"
    );
    // Acknowledged means stored: the prescriptions are there once the ACK is read.
    let live = "SELECT COUNT(*) FROM fhir_resources WHERE resource_type = 'MedicationRequest' AND deleted = 0";
    let requests = count(&data, live).await;
    assert!(requests >= 1);
    let versions = count(&data, VERSIONS).await;

    // The same message again: acknowledged, nothing new stored.
    let reply = exchange(&mut stream, &prescription);
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    assert_eq!(count(&data, VERSIONS).await, versions);

    // A message type without a FHIR mapping: AR with HL7 error 200, nothing stored.
    let order = from_facility(&first_file("999/901/9999013/20111013/OMD"), "F00006");
    let reply = exchange(&mut stream, &order);
    assert_eq!(ack_code(&reply), "AR", "{reply}");
    assert!(reply.contains("|200^"), "{reply}");
    assert_eq!(count(&data, VERSIONS).await, versions);

    // An unknown sending facility is refused.
    let stranger = from_facility(&first_file("999/901/9999013/20110701/OMP-01"), "F99999");
    let reply = exchange(&mut stream, &stranger);
    assert_ne!(ack_code(&reply), "AA", "{reply}");
    assert!(reply.contains("F99999"), "{reply}");

    // A message without its patient: an error naming the problem.
    let no_pid =
        b"MSH|^~\\&|HIS|F00006|GW|RCV|20261201090000||RDE^O11^RDE_O11|X1|P|2.5\rORC|NW|1\r";
    let reply = exchange(&mut stream, no_pid);
    assert!(matches!(ack_code(&reply), "AE" | "AR"), "{reply}");
    assert!(reply.contains("ERR|"), "{reply}");

    // Not HL7 at all: a reject, and the connection stays usable.
    let reply = exchange(&mut stream, b"hello");
    assert_eq!(ack_code(&reply), "AR", "{reply}");
    let reply = exchange(&mut stream, &prescription);
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    assert_eq!(count(&data, VERSIONS).await, versions);

    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
