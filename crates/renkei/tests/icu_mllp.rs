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
