//! Tele-ICU monitor messages over a real MLLP socket against the demo server (whose own
//! simulator feeds the same listener): AA only once stored, duplicates stored once,
//! impossible values dropped with a warning, messages for the wrong patient or an unknown
//! bed quarantined with AE and never attached to anyone.

mod common;

use common::{start_demo, temp_dir};
use std::io::{Read, Write};
use std::path::Path;

async fn query_row(dir: &Path, sql: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}", dir.join("renkei.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let row = sqlx::query(sql).fetch_one(&mut conn).await.unwrap();
    (0..row.len())
        .map(|i| {
            row.try_get::<String, _>(i)
                .or_else(|_| row.try_get::<i64, _>(i).map(|n| n.to_string()))
                .unwrap()
        })
        .collect()
}

fn exchange(stream: &mut std::net::TcpStream, payload: &str) -> String {
    let mut frame = vec![0x0b];
    frame.extend_from_slice(payload.as_bytes());
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
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).replace('\r', "\n")
}

fn ack_code(reply: &str) -> &str {
    reply
        .lines()
        .find(|l| l.starts_with("MSA|"))
        .and_then(|l| l.split('|').nth(1))
        .unwrap_or("")
}

/// A PCD-01 ORU^R01 with heart rate and SpO2 at a fixed time.
fn pcd01(facility: &str, control: &str, bed: &str, patient: &str, hr: &str, spo2: &str) -> String {
    format!(
        "MSH|^~\\&|MONITOR^0012345678ABCDEF^EUI-64|{facility}|RENKEI|CENTRE|20300101090000+0900||ORU^R01^ORU_R01|{control}|P|2.6|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r\
PID|||{patient}^^^HOSP^PI||テスト^患者\r\
PV1||I|ICU^^{bed}\r\
OBR|1|||182777000^monitoring of patient^SCT|||20300101090000+0900\r\
OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{hr}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||20300101090000+0900\r\
OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.2|{spo2}|262688^MDC_DIM_PERCENT^MDC|||||R|||20300101090000+0900"
    )
}

#[tokio::test]
async fn monitor_messages_are_stored_once_or_quarantined() {
    let data = temp_dir();
    let (mut server, lines) = start_demo(&data, &["--mllp-addr", "127.0.0.1:0"]);
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("renkei mllp on "))
        .expect("the MLLP address is printed")
        .to_string();
    let bed = query_row(
        &data,
        "SELECT f.code, b.monitor_key, s.local_id, s.id FROM icu_stays s \
         JOIN icu_beds b ON b.id = s.bed_id JOIN facilities f ON f.id = b.facility_id \
         WHERE s.discharged_at IS NULL ORDER BY b.position LIMIT 1",
    )
    .await;
    let (facility, key, patient, stay) = (&bed[0], &bed[1], &bed[2], &bed[3]);
    let values_at = format!(
        "SELECT COUNT(*) FROM icu_observations WHERE stay_id = '{stay}' AND at = 1893456000000"
    );
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();

    // Stored, then acknowledged: both values are there once AA is read.
    let reply = exchange(
        &mut stream,
        &pcd01(facility, "T-1", key, patient, "88", "97"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    assert_eq!(query_row(&data, &values_at).await[0], "2");
    // A resend: AA again, stored once.
    let reply = exchange(
        &mut stream,
        &pcd01(facility, "T-1", key, patient, "88", "97"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    assert_eq!(query_row(&data, &values_at).await[0], "2");

    // SpO2 140 %: the message is taken, the impossible value is not, and the ACK says so.
    let reply = exchange(
        &mut stream,
        &pcd01(facility, "T-2", key, patient, "90", "140"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    assert!(
        reply
            .lines()
            .any(|l| l.starts_with("ERR|") && l.contains("|W|")),
        "{reply}"
    );
    assert_eq!(
        query_row(&data, &values_at).await[0],
        "2",
        "HR at the same time kept once, SpO2 140 dropped"
    );

    // Another patient's ID on this bed: quarantined, AE, nothing attached.
    let before = query_row(
        &data,
        &format!("SELECT COUNT(*) FROM icu_observations WHERE stay_id = '{stay}' AND value = 41"),
    )
    .await;
    let reply = exchange(
        &mut stream,
        &pcd01(facility, "T-3", key, "SOMEONE-ELSE", "41", "95"),
    );
    assert_eq!(ack_code(&reply), "AE", "{reply}");
    assert!(reply.contains("quarantined"), "{reply}");
    assert_eq!(
        query_row(
            &data,
            &format!(
                "SELECT COUNT(*) FROM icu_observations WHERE stay_id = '{stay}' AND value = 41"
            )
        )
        .await,
        before
    );
    let quarantined = query_row(
        &data,
        "SELECT COUNT(*), MAX(reason) FROM icu_quarantine WHERE control_id = 'T-3'",
    )
    .await;
    assert_eq!(quarantined[0], "1");
    assert!(quarantined[1].contains("disagrees"), "{quarantined:?}");
    let alert = query_row(
        &data,
        "SELECT COUNT(*) FROM icu_alerts WHERE rule = 'quarantine:T-3'",
    )
    .await;
    assert_eq!(alert[0], "1", "the centre is alerted");

    // A bed nobody configured (PCD-01 form): quarantined too.
    let reply = exchange(
        &mut stream,
        &pcd01(facility, "T-4", "NO-SUCH-BED", patient, "80", "95"),
    );
    assert_eq!(ack_code(&reply), "AE", "{reply}");
    assert!(reply.contains("unknown bed"), "{reply}");

    // A truncated frame content: rejected, connection still usable.
    let reply = exchange(&mut stream, "MSH|^~\\&|MON");
    assert!(matches!(ack_code(&reply), "AR" | "AE"), "{reply}");
    let reply = exchange(
        &mut stream,
        &pcd01(facility, "T-5", key, patient, "89", "96"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");

    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

fn adt(
    facility: &str,
    control: &str,
    trigger: &str,
    bed: &str,
    prior: &str,
    patient: &str,
) -> String {
    format!(
        "MSH|^~\\&|ADT|{facility}|RENKEI|CENTRE|20300101080000+0900||ADT^{trigger}^ADT_A01|{control}|P|2.5|||||||UNICODE UTF-8\r\
EVN|{trigger}|20300101080000+0900\r\
PID|||{patient}^^^HOSP^PI||試験^花子^^^^^L^I~シケン^ハナコ^^^^^L^P||19500101|F\r\
PV1||I|GICU^^{bed}|||GICU^^{prior}"
    )
}

/// Units and beds from a TOML file, then bed assignment by ADT: A01 admits (the patient
/// registered through the patient index), a second patient for the same bed is refused,
/// A03 discharges and later monitor data for the bed is quarantined. Then the simulator
/// command feeds the imported beds end to end.
#[tokio::test]
async fn adt_assigns_beds_and_the_simulator_feeds_them() {
    let data = temp_dir();
    let (mut server, lines) = start_demo(&data, &["--mllp-addr", "127.0.0.1:0"]);
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("renkei mllp on "))
        .expect("the MLLP address is printed")
        .to_string();
    let facility = query_row(
        &data,
        "SELECT f.code FROM icu_units u JOIN facilities f ON f.id = u.facility_id \
         WHERE u.code = 'ICU'",
    )
    .await[0]
        .clone();
    let config = data.join("icu.toml");
    std::fs::write(
        &config,
        format!(
            "[[unit]]\nfacility = \"{facility}\"\ncode = \"GICU\"\nname = \"一般ICU\"\n\
             kind = \"gicu\"\nsampling_seconds = 10\nbeds = [\"ADT-001\", \"ADT-002\"]\n\
             [[unit.bed]]\nlabel = \"個室\"\nmonitor_key = \"SIMX-001\"\n"
        ),
    )
    .unwrap();
    let dir = data.to_str().unwrap();
    let file = config.to_str().unwrap();
    let out = common::renkei(&["admin", "--data-dir", dir, "icu-import", "--file", file]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("units: 1 created, 0 updated; beds: 3 created"),
        "{}",
        common::stdout(&out)
    );
    let again = common::renkei(&["admin", "--data-dir", dir, "icu-import", "--file", file]);
    assert!(
        common::stdout(&again).contains("units: 0 created, 0 updated; beds: 0 created, 0 updated"),
        "{}",
        common::stdout(&again)
    );
    // The router caches the bed list for up to 5 s.
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;

    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let reply = exchange(
        &mut stream,
        &adt(&facility, "A-1", "A01", "ADT-001", "", "ADTP1"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    let stay = query_row(
        &data,
        "SELECT COUNT(*), MAX(s.local_id), MAX(s.id) FROM icu_stays s JOIN icu_beds b ON b.id = s.bed_id \
         WHERE b.monitor_key = 'ADT-001' AND s.discharged_at IS NULL",
    )
    .await;
    assert_eq!((stay[0].as_str(), stay[1].as_str()), ("1", "ADTP1"));
    // Resent: nothing changes. Another patient for the same bed: refused.
    let reply = exchange(
        &mut stream,
        &adt(&facility, "A-1b", "A01", "ADT-001", "", "ADTP1"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    let reply = exchange(
        &mut stream,
        &adt(&facility, "A-2", "A01", "ADT-001", "", "ADTP2"),
    );
    assert_eq!(ack_code(&reply), "AE", "{reply}");
    assert!(reply.contains("another patient"), "{reply}");
    // The same patient admitted to a second bed without a transfer: refused.
    let reply = exchange(
        &mut stream,
        &adt(&facility, "A-2b", "A01", "ADT-002", "", "ADTP1"),
    );
    assert_eq!(ack_code(&reply), "AE", "{reply}");
    assert!(reply.contains("already lies in bed"), "{reply}");
    // Monitor data for the admitted patient is stored at once.
    let reply = exchange(
        &mut stream,
        &pcd01(&facility, "A-3", "ADT-001", "ADTP1", "77", "98"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    // A02 to the second bed, then A03: the bed is empty and data for it is quarantined.
    let reply = exchange(
        &mut stream,
        &adt(&facility, "A-4", "A02", "ADT-002", "ADT-001", "ADTP1"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    let moved = query_row(
        &data,
        "SELECT b.monitor_key FROM icu_stays s JOIN icu_beds b ON b.id = s.bed_id \
         WHERE s.local_id = 'ADTP1' AND s.discharged_at IS NULL",
    )
    .await;
    assert_eq!(moved[0], "ADT-002");
    let reply = exchange(
        &mut stream,
        &adt(&facility, "A-5", "A03", "ADT-002", "", "ADTP1"),
    );
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    let reply = exchange(
        &mut stream,
        &pcd01(&facility, "A-6", "ADT-002", "ADTP1", "77", "98"),
    );
    assert_eq!(ack_code(&reply), "AE", "{reply}");
    assert!(reply.contains("no patient is admitted"), "{reply}");
    let history = query_row(
        &data,
        "SELECT COUNT(*) FROM icu_stays WHERE local_id = 'ADTP1' AND discharged_at IS NOT NULL",
    )
    .await;
    assert_eq!(history[0], "2", "both stays kept as history");
    drop(stream);

    // The simulator: admits its patient by ADT into the imported bed and sends data.
    let out = common::renkei(&[
        "simulate",
        "monitors",
        "--to",
        &addr,
        "--beds",
        "1",
        "--facility",
        &facility,
        "--bed-prefix",
        "SIMX-",
        "--patient-prefix",
        "TST",
        "--ticks",
        "5",
        "--fast",
        "--interval",
        "60",
        "--no-dropouts",
        "--no-artefacts",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(common::stdout(&out).trim()).unwrap();
    assert_eq!(summary["messages"], 6, "{summary}");
    assert_eq!(summary["accepted"], 6, "{summary}");
    assert!(
        summary["observations"].as_u64().unwrap() >= 5 * 5,
        "{summary}"
    );
    let stored = query_row(
        &data,
        "SELECT COUNT(*) FROM icu_observations o JOIN icu_stays s ON s.id = o.stay_id \
         JOIN icu_beds b ON b.id = s.bed_id WHERE b.monitor_key = 'SIMX-001'",
    )
    .await;
    assert_eq!(
        stored[0],
        summary["observations"].to_string(),
        "every acknowledged observation is stored"
    );

    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

/// The server is killed (SIGKILL, no shutdown) while four connections stream monitor
/// messages; afterwards every observation that was acknowledged AA is in the database.
#[tokio::test]
async fn no_acknowledged_observation_is_lost_when_the_server_is_killed() {
    let data = temp_dir();
    let (mut server, lines) = start_demo(&data, &["--mllp-addr", "127.0.0.1:0"]);
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("renkei mllp on "))
        .expect("the MLLP address is printed")
        .to_string();
    let bed = query_row(
        &data,
        "SELECT f.code, b.monitor_key, s.local_id, s.id FROM icu_stays s \
         JOIN icu_beds b ON b.id = s.bed_id JOIN facilities f ON f.id = b.facility_id \
         WHERE s.discharged_at IS NULL ORDER BY b.position LIMIT 1",
    )
    .await;
    let (facility, key, patient, stay) = (
        bed[0].clone(),
        bed[1].clone(),
        bed[2].clone(),
        bed[3].clone(),
    );
    // 2031-01-01 00:00:00 +0900 in epoch seconds.
    const BASE: i64 = 1_924_959_600;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for lane in 0..4i64 {
        let (addr, facility, key, patient, stop) = (
            addr.clone(),
            facility.clone(),
            key.clone(),
            patient.clone(),
            stop.clone(),
        );
        senders.push(std::thread::spawn(move || {
            let mut acked = Vec::new();
            let Ok(mut stream) = std::net::TcpStream::connect(&addr) else {
                return acked;
            };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            for i in 0..20_000i64 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let second = lane * 20_000 + i;
                let at = format!(
                    "20310101{:02}{:02}{:02}+0900",
                    second / 3600,
                    second / 60 % 60,
                    second % 60
                );
                let message = pcd01(
                    &facility,
                    &format!("K{lane}-{i}"),
                    &key,
                    &patient,
                    "70",
                    "97",
                )
                .replace("20300101090000+0900", &at);
                let mut frame = vec![0x0b];
                frame.extend_from_slice(message.as_bytes());
                frame.extend_from_slice(&[0x1c, 0x0d]);
                if stream.write_all(&frame).is_err() {
                    break;
                }
                let mut reply = Vec::new();
                let mut byte = [0u8; 1];
                let complete = loop {
                    match stream.read(&mut byte) {
                        Ok(1) => {
                            reply.push(byte[0]);
                            if reply.ends_with(&[0x1c, 0x0d]) {
                                break true;
                            }
                        }
                        _ => break false,
                    }
                };
                if !complete {
                    break;
                }
                let text = String::from_utf8_lossy(&reply).to_string();
                if text.contains("MSA|AA|") {
                    acked.push((BASE + second) * 1000);
                }
            }
            acked
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    server.kill().unwrap(); // SIGKILL: no graceful shutdown, no flush
    server.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<i64> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    assert!(
        acked.len() > 50,
        "the load ran: {} acknowledged",
        acked.len()
    );

    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}", data.join("renkei.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let stored: std::collections::HashSet<i64> = sqlx::query(
        "SELECT at FROM icu_observations WHERE stay_id = ? AND item = 'hr' AND at >= ?",
    )
    .bind(&stay)
    .bind(BASE * 1000)
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.get::<i64, _>(0))
    .collect();
    let lost: Vec<&i64> = acked.iter().filter(|at| !stored.contains(at)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged observations lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// Runs `openssl` with `args` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed for the TLS test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a certificate it signs for `name` (`server` or `client`).
fn issue_certificate(dir: &Path, name: &str, extensions: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// MLLP over TLS with client certificates: plain MLLP gets no answer, a client without a
/// certificate fails the handshake, and the simulator with the hospital's certificate
/// has every message acknowledged.
#[test]
fn mllp_over_mutual_tls() {
    let data = temp_dir();
    let pki = data.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    openssl(
        &pki,
        &[
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
            "/CN=Renkei Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    issue_certificate(
        &pki,
        "server",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    issue_certificate(&pki, "client", "extendedKeyUsage=clientAuth\n");
    let file = |name: &str| pki.join(name).to_str().unwrap().to_string();

    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["demo", "--data-dir", data.to_str().unwrap()])
        .args(["--http-addr", "127.0.0.1:0", "--mllp-addr", "127.0.0.1:0"])
        .env_remove("RENKEI_CONFIG")
        .env("RENKEI_MLLP_TLS_CERT", file("server.pem"))
        .env("RENKEI_MLLP_TLS_KEY", file("server.key"))
        .env("RENKEI_MLLP_TLS_CLIENT_CA", file("ca.pem"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = common::wait_ready(&mut server);
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("renkei mllp on "))
        .expect("the MLLP address is printed")
        .to_string();

    // Plain MLLP: the bytes are not a TLS ClientHello, so no ACK ever comes back.
    let mut plain = std::net::TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(b"\x0bMSH|^~\\&|X|F|R|C|20300101090000||ORU^R01|P-1|P|2.6\x1c\r")
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(
        !String::from_utf8_lossy(&reply).contains("MSA|"),
        "a plain MLLP client must not be answered: {reply:?}"
    );

    let simulate = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "monitors",
            "--to",
            &addr,
            "--beds",
            "2",
            "--ticks",
            "2",
            "--fast",
            "--connections",
            "1",
            "--json",
            "--tls-ca",
        ];
        let ca = file("ca.pem");
        args.push(&ca);
        args.extend_from_slice(extra);
        common::renkei(&args)
    };
    // No client certificate: the listener requires one.
    // (With TLS 1.3 the client learns it at its first read, so messages fail, unanswered.)
    let refused = simulate(&[]);
    assert!(!refused.status.success(), "{}", common::stdout(&refused));
    let answered = serde_json::from_str::<serde_json::Value>(common::stdout(&refused).trim())
        .map(|s| s["accepted"].as_u64().unwrap() + s["errors"].as_u64().unwrap())
        .unwrap_or(0);
    assert_eq!(answered, 0, "{}", common::stdout(&refused));
    // With the hospital's certificate every message is answered over TLS.
    let (cert, key) = (file("client.pem"), file("client.key"));
    let sent = simulate(&["--tls-cert", &cert, "--tls-key", &key]);
    assert!(sent.status.success(), "{}", common::stderr(&sent));
    let summary: serde_json::Value = serde_json::from_str(common::stdout(&sent).trim()).unwrap();
    assert_eq!(summary["failed"], 0, "{summary}");
    assert!(summary["messages"].as_u64().unwrap() >= 4, "{summary}");
    assert_eq!(
        summary["accepted"].as_u64().unwrap()
            + summary["errors"].as_u64().unwrap()
            + summary["rejected"].as_u64().unwrap(),
        summary["messages"].as_u64().unwrap(),
        "every message acknowledged: {summary}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A parameter the catalogue lacks becomes a site item by configuration alone: declared in
/// `icu_items_file`, mapped in `icu_code_map_file`, then stored from a monitor message.
#[tokio::test]
async fn a_site_data_item_is_declared_mapped_and_stored_without_code() {
    let data = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let items = data.join("items.toml");
    std::fs::write(
        &items,
        "[[item]]\ncode = \"etco2\"\nlabel_ja = \"呼気終末CO2\"\nlabel_en = \"End-tidal CO2\"\n\
         unit = { display = \"mmHg\", ucum = \"mm[Hg]\" }\nkind = \"vital\"\n\
         sampling_secs = 60\ndecimals = 0\nplausible = { min = 0, max = 150 }\n",
    )
    .unwrap();
    let codes = data.join("codes.csv");
    std::fs::write(&codes, "mdc,151708,etco2,mm[Hg],,,EtCO2\n").unwrap();
    let start = |items: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_renkei"))
            .args(["demo", "--data-dir", data.to_str().unwrap()])
            .args(["--http-addr", "127.0.0.1:0", "--mllp-addr", "127.0.0.1:0"])
            .env_remove("RENKEI_CONFIG")
            .env("RENKEI_ICU_ITEMS_FILE", items)
            .env("RENKEI_ICU_CODE_MAP_FILE", &codes)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };

    // A wrong declaration stops the start, naming the item and the problem.
    let wrong = data.join("wrong.toml");
    std::fs::write(
        &wrong,
        "[[item]]\ncode = \"hr\"\nlabel_ja = \"x\"\nlabel_en = \"x\"\n\
         unit = { display = \"\", ucum = \"\" }\nkind = \"vital\"\ndecimals = 0\n\
         plausible = { min = 5, max = 1 }\n",
    )
    .unwrap();
    let refused = start(&wrong).wait_with_output().unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("\"hr\": the code is already taken"), "{err}");
    assert!(err.contains("a UCUM unit is required"), "{err}");

    let mut server = start(&items);
    let lines = common::wait_ready(&mut server);
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("renkei mllp on "))
        .expect("the MLLP address is printed")
        .to_string();
    let bed = query_row(
        &data,
        "SELECT f.code, b.monitor_key, s.local_id, s.id FROM icu_stays s \
         JOIN icu_beds b ON b.id = s.bed_id JOIN facilities f ON f.id = b.facility_id \
         WHERE s.discharged_at IS NULL ORDER BY b.position LIMIT 1",
    )
    .await;
    let (facility, key, patient, stay) = (&bed[0], &bed[1], &bed[2], &bed[3]);
    let message = pcd01(facility, "ETCO2-1", key, patient, "88", "97").replace(
        "OBX|2|",
        "OBX|3|NM|151708^MDC_AWAY_CO2_ET^MDC|1.1.1.3|38|266016^MDC_DIM_MMHG^MDC|||||R|||20300101090000+0900\rOBX|2|",
    );
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let reply = exchange(&mut stream, &message);
    assert_eq!(ack_code(&reply), "AA", "{reply}");
    assert!(
        !reply.lines().any(|l| l.starts_with("ERR|")),
        "the site item is known: no warning: {reply}"
    );
    let stored = query_row(
        &data,
        &format!(
            "SELECT COUNT(*), CAST(MAX(value) AS INTEGER) FROM icu_observations \
             WHERE stay_id = '{stay}' AND item = 'etco2' AND at = 1893456000000"
        ),
    )
    .await;
    assert_eq!(
        (stored[0].as_str(), stored[1].as_str()),
        ("1", "38"),
        "{stored:?}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
