//! No input makes the mapper panic: every fixture file cut at every
//! character, fixture files with random bytes changed, and garbage.

use std::path::PathBuf;

use renkei_hl7::{encoding, ssmix2, Message};
use renkei_hl7_fhir::{demographics, map_message, MapContext, SUPPORTED_DATA_TYPES};

fn storage_root() -> PathBuf {
    std::env::var("RENKEI_SSMIX2_SAMPLE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/fixtures/ssmix2-nho-sample/storage")
        })
}

const CTX: MapContext<'static> = MapContext {
    patient_reference: "Patient/p",
    facility_id: "F",
    source: "fuzz",
};

/// Maps a text every way there is; returns how many parsed.
fn exercise(text: &str, all_types: bool) -> bool {
    let Ok(msg) = Message::parse(text) else {
        return false;
    };
    let _ = demographics(&msg);
    let _ = map_message(&msg, None, &CTX);
    if all_types {
        for t in SUPPORTED_DATA_TYPES {
            if let Ok(m) = map_message(&msg, Some(t), &CTX) {
                for r in &m.resources {
                    let id = r["id"].as_str().unwrap();
                    assert!(renkei_hl7_fhir::ids::is_valid_id(id));
                }
            }
        }
    }
    true
}

/// Fixture texts (decoded), with the data type from the file name.
fn texts() -> Vec<String> {
    let mut out = Vec::new();
    for entry in ssmix2::walk(storage_root()) {
        let entry = entry.unwrap();
        let bytes = std::fs::read(&entry.path).unwrap();
        if let Ok(d) = encoding::decode(&bytes) {
            out.push(d.text);
        }
    }
    assert!(out.len() >= 21);
    out
}

#[test]
fn every_truncation_of_every_fixture_file() {
    let mut parsed = 0;
    for text in texts() {
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for (n, &cut) in cuts.iter().enumerate() {
            // Every cut with inferred type; every 13th with every data type.
            if exercise(&text[..cut], n % 13 == 0) {
                parsed += 1;
            }
        }
    }
    assert!(parsed > 10_000, "{parsed}");
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_mutations_of_fixture_files() {
    const ALPHABET: &[&str] = &[
        "|",
        "^",
        "~",
        "&",
        "\\",
        "\r",
        "0",
        "9",
        ".",
        "-",
        "+",
        "A",
        "Z",
        "患",
        "ｱ",
        "",
        "99999999999999999999",
        "20231301",
        "OBX",
        "PID",
        "RXE",
        "MSH|^~\\&|",
        "\u{0}",
        "\u{1c}",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for text in texts() {
        for _ in 0..150 {
            let mut chars: Vec<String> = text.chars().map(String::from).collect();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(chars.len());
                let with = ALPHABET[rng.below(ALPHABET.len())].to_string();
                match rng.below(3) {
                    0 => chars[at] = with,
                    1 => chars.insert(at, with),
                    _ => {
                        chars.remove(at.min(chars.len().saturating_sub(1)));
                    }
                }
                if chars.is_empty() {
                    break;
                }
            }
            exercise(&chars.concat(), true);
        }
    }
}

#[test]
fn garbage_and_hostile_messages() {
    let long = "9".repeat(100_000);
    let deep = "(".repeat(1000);
    let cases = [
        String::new(),
        "MSH".into(),
        "MSH|".into(),
        "MSH|^~\\&".into(),
        "MSH|^~\\&|||||||ORU^R01|1|P|2.5\rOBX".into(),
        "MSH|^~\\&|||||||ORU^R01|1|P|2.5\rPID|||x\rOBX|||||".into(),
        "MSH|^~\\&|||||||ORU^R01|1|P|2.5\rPID|||x\rOBR\rOBX|1|NM|a||1|(((((((((m".into(),
        format!("MSH|^~\\&|||||||ORU^R01|1|P|2.5\rPID|||x\rOBR\rOBX|1|NM|a||{long}|{deep}"),
        format!("MSH|^~\\&|||||||ADT^A01|1|P|2.5\rPID|||{long}\rPV1"),
        "MSH|^~\\&|||||||ADT^A01|1|P|2.5\rPID|||x\rPV1|||||||||||||||||||||||||||||||||||||||||||||2011".into(),
        "MSH|^~\\&|||||||RDE^O11|1|P|2.5\rPID|||x\rRXE|||||||||||||||||||".into(),
        "MSH|^~\\&|||||||RDE^O11|1|P|2.5\rPID|||x\rRXC|||\rRXE|^^^^^^^^^|1|||\u{fffd}".into(),
        "MSH|^~\\&|||||||RAS^O17|1|P|2.5\rPID|||x\rRXR\rRXA|||2011|2010|a".into(),
        "MSH|^~\\&|||||||PPR^ZD1|1|P|2.5\rPID|||x\rZPR|~~~|||\rPRB|||^^^|||||||||||||||||||||||||".into(),
        "MSH|^~\\&|||||||ADT^A60|1|P|2.5\rPID|||x\rIAM|||^\rIAM||~|a|b|c|d|e|f|g|h|20241301".into(),
        "MSH|^~\\&|||||||ADT^A08|1|P|2.5\rPID|||x||^^^^^^^P~~^^^^^^^I|||ZZ|||^^^^^^^^|||~~~~\rIN1|||||||||||".into(),
    ];
    for c in &cases {
        exercise(c, true);
    }
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let n = rng.below(200);
        let mut s = String::from("MSH|^~\\&|||||||");
        for _ in 0..n {
            let pieces = [
                "|", "^", "~", "&", "\r", "OBX", "OBR", "ORC", "RXE", "RXA", "PRB", "IAM", "PV1",
                "PID", "TQ1", "NM", "SN", "CWE", "1", "2011", "20110101", "<", "x",
            ];
            s.push_str(pieces[rng.below(pieces.len())]);
        }
        exercise(&s, true);
    }
}
