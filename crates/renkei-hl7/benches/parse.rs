//! Throughput of decode + parse, in messages per second.
//!
//! `cargo bench -p renkei-hl7 --bench parse` (std::time::Instant, no harness).
//! Inputs: every decodable file of the NHO SS-MIX2 sample (ISO-2022-JP), and
//! a synthetic IHE PCD-01 style ORU^R01 with 10 OBX (ASCII).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use renkei_hl7::encoding;
use renkei_hl7::message::Message;
use renkei_hl7::ssmix2;

fn synthetic_oru() -> Vec<u8> {
    let mut s = String::from(
        "MSH|^~\\&|MONITOR^0001^EUI-64|ICU|RENKEI|HOSP|20240101120000+0900||ORU^R01^ORU_R01|MSG000001|P|2.6|||AL|NE||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r\
         PID|||12345^^^HOSP^PI||Doe^John^^^^^L\r\
         PV1||I|ICU^^BED-001\r\
         OBR|1|ORD1^MONITOR|FIL1^MONITOR|182777000^monitoring of patient^SCT|||20240101120000+0900\r",
    );
    let rows = [
        (
            "147842",
            "MDC_ECG_HEART_RATE",
            "72",
            "264864^MDC_DIM_BEAT_PER_MIN",
        ),
        (
            "150456",
            "MDC_PULS_OXIM_SAT_O2",
            "97",
            "262688^MDC_DIM_PERCENT",
        ),
        (
            "149530",
            "MDC_PULS_OXIM_PULS_RATE",
            "71",
            "264864^MDC_DIM_BEAT_PER_MIN",
        ),
        (
            "150033",
            "MDC_PRESS_BLD_ART_SYS",
            "121",
            "266016^MDC_DIM_MMHG",
        ),
        (
            "150034",
            "MDC_PRESS_BLD_ART_DIA",
            "68",
            "266016^MDC_DIM_MMHG",
        ),
        (
            "150035",
            "MDC_PRESS_BLD_ART_MEAN",
            "86",
            "266016^MDC_DIM_MMHG",
        ),
        (
            "150087",
            "MDC_PRESS_BLD_VEN_CENT_MEAN",
            "8",
            "266016^MDC_DIM_MMHG",
        ),
        (
            "151562",
            "MDC_RESP_RATE",
            "16",
            "264928^MDC_DIM_RESP_PER_MIN",
        ),
        ("150344", "MDC_TEMP", "36.8", "268192^MDC_DIM_DEGC"),
        ("150368", "MDC_TEMP_CORE", "37.1", "268192^MDC_DIM_DEGC"),
    ];
    for (i, (code, name, value, unit)) in rows.iter().enumerate() {
        s.push_str(&format!(
            "OBX|{}|NM|{code}^{name}^MDC|1.1.1.{}|{value}|{unit}^MDC|||||R|||20240101120000+0900||||0123456789ABCDEF^EUI-64\r",
            i + 1,
            i + 1
        ));
    }
    s.into_bytes()
}

fn fixture_files() -> Vec<Vec<u8>> {
    let root = std::env::var("RENKEI_SSMIX2_SAMPLE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/fixtures/ssmix2-nho-sample/storage")
        });
    ssmix2::walk(&root)
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(&e.path).ok())
        .filter(|b| ssmix2::parse_bytes(std::path::Path::new("-"), b).is_ok())
        .collect()
}

/// Runs decode + parse (+ one field access) over `inputs` for at least `min`.
fn measure(label: &str, inputs: &[Vec<u8>], min: Duration) {
    if inputs.is_empty() {
        println!("{label}: no inputs");
        return;
    }
    let bytes: usize = inputs.iter().map(Vec::len).sum();
    // Warm-up.
    for b in inputs {
        black_box(Message::parse(encoding::decode(b).unwrap().text).unwrap());
    }
    let start = Instant::now();
    let mut messages = 0u64;
    let mut rounds = 0u64;
    while start.elapsed() < min {
        for b in inputs {
            let d = encoding::decode(black_box(b)).unwrap();
            let m = Message::parse(d.text).unwrap();
            black_box(m.get("PID-3"));
            messages += 1;
        }
        rounds += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label}: {} messages ({} bytes avg) in {secs:.2}s = {:.0} messages/s, {:.1} MB/s",
        messages,
        bytes / inputs.len(),
        messages as f64 / secs,
        (rounds as f64 * bytes as f64) / secs / 1e6
    );
}

fn main() {
    let min = Duration::from_secs(3);
    measure(
        "SS-MIX2 sample files (ISO-2022-JP), decode+parse",
        &fixture_files(),
        min,
    );
    measure(
        "synthetic ORU^R01, 10 OBX (ASCII), decode+parse",
        &[synthetic_oru()],
        min,
    );
    let iso = encoding::encode_iso2022jp(
        &String::from_utf8(synthetic_oru())
            .unwrap()
            .replace("Doe^John", "患者^太郎"),
    )
    .unwrap();
    measure(
        "synthetic ORU^R01, 10 OBX (ISO-2022-JP), decode+parse",
        &[iso],
        min,
    );
}
