//! ORU^R01 parsing against messages laid out as the sources send them.

use renkei_hl7::Message;
use renkei_icu::{
    parse_oru, parse_text, Catalogue, CodeMap, Inbound, MessageForm, MonitorMessage, ParseError,
    ProblemKind, ResultStatus,
};

/// 2024-03-15 10:15:00 JST in UTC milliseconds.
const T1015: i64 = 1_710_465_300_000;
const MINUTE: i64 = 60_000;

/// Laid out as the IHE PCD Technical Framework's DEC examples: MDS/VMD/channel rows
/// without values, containment paths in OBX-4, MDC codes and units, EUI-64 in OBX-18.
const PCD01: &str = "MSH|^~\\&|ACME_GW^ACDE48234567ABCD^EUI-64|F00001|RENKEI|RENKEI|20240315101530+0900||ORU^R01^ORU_R01|MSG00017|P|2.6|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r\
PID|||TEST0001^^^F00001^PI||試験^一郎^^^^^L^I~シケン^イチロウ^^^^^L^P||19550101|M\r\
PV1||I|ICU^3^BED-07\r\
OBR|1|MSG00017^ACME_GW^ACDE48234567ABCD^EUI-64|MSG00017^ACME_GW^ACDE48234567ABCD^EUI-64|182777000^monitoring of patient^SCT|||20240315101500+0900\r\
OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||ACDE48234567ABCD^^ACDE48234567ABCD^EUI-64\r\
OBX|2||70666^MDC_DEV_ECG_RESP_VMD^MDC|1.1.0.0|||||||X\r\
OBX|3||70739^MDC_DEV_CARD_RATE_CHAN^MDC|1.1.1.0|||||||X\r\
OBX|4|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.147842|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|50-120||||R|||20240315101500+0900||||ACDE48234567ABCD^^ACDE48234567ABCD^EUI-64\r\
OBX|5|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.147842|97|262688^MDC_DIM_PERCENT^MDC|90-100||||F|||20240315101400+0900\r\
OBX|6|NM|150033^MDC_PRESS_BLD_ART_SYS^MDC|1.3.1.150033|118|266016^MDC_DIM_MMHG^MDC|||||R\r\
OBX|7|NM|150034^MDC_PRESS_BLD_ART_DIA^MDC|1.3.1.150034|64|266016^MDC_DIM_MMHG^MDC|||||R\r\
OBX|8|NM|150035^MDC_PRESS_BLD_ART_MEAN^MDC|1.3.1.150035|82|266016^MDC_DIM_MMHG^MDC|||||C\r\
OBX|9|NM|150344^MDC_TEMP^MDC|1.4.1.150344|99.5|266560^MDC_DIM_FAHR^MDC|||||R|||20240315101500+0900\r\
OBX|10|NM|152196^MDC_CONC_AWAY_O2_INSP^MDC|1.5.1.152196|40|262688^MDC_DIM_PERCENT^MDC|||||R\r\
OBX|11|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.150456|140|262688^MDC_DIM_PERCENT^MDC|||||R\r\
OBX|12|NM|151562^MDC_RESP_RATE^MDC|1.1.2.151562|18|264928^MDC_DIM_RESP_PER_MIN^MDC|||||X\r\
OBX|13|NM|150300^MDC_PRESS_CUFF^MDC|1.6.1.150300|0|266016^MDC_DIM_MMHG^MDC|||||R\r\
OBX|14|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.2.1.149530|7x|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r\
OBX|15|NM|150087^MDC_PRESS_BLD_VEN_CENT_MEAN^MDC|1.3.2.150087|1.2|265987^MDC_DIM_KILO_PASCAL^MDC|||||R\r\
OBX|16|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.147842|72|266016^MDC_DIM_MMHG^MDC|||||R\r\
OBX|17|NM|0002-4BB8^MDC_PULS_OXIM_SAT_O2^MDIL|1.2.1.1|96|262688^MDC_DIM_PERCENT^MDC|||||R\r\
OBX|18|NM|151562^MDC_RESP_RATE^MDC|1.1.2.151562|20|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||2024031510\r\
OBX|19|NM|151562^MDC_RESP_RATE^MDC|1.1.2.151562|21|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||yesterday";

/// As a Nihon Kohden gateway sends it: v2.4, six-digit codes, plain-text units, one
/// OBR per group with its time, local time without offset, bed in PV1-3.3.
const NK: &str = "MSH|^~\\&|CNS-6201|F00002|RENKEI|CENTER|20240315101530||ORU^R01|NK000123|P|2.4\r\
PID|1||0012345^^^^PI||試験^花子\r\
PV1|1|I|^^BED-001^F00002\r\
OBR|1|||VITAL|||20240315101500\r\
OBX|1|NM|007000^VITAL SpO2||98|%|||||F\r\
OBX|2|NM|001000^ECG HR||88|bpm|||||F\r\
OBR|2|||NIBP|||20240315100200\r\
OBX|3|NM|009000^NIBP SYS||132|mmHg|||||F\r\
OBX|4|NM|009001^NIBP DIAS||78|mmHg|||||F\r\
OBX|5|NM|009002^NIBP MEAN||96|mmHg|||||F\r\
OBR|3|||TEMP|||20240315101500\r\
OBX|6|NM|008000^TEMP T1||37.4|℃|||||F\r\
OBX|7|NM|099999^UNKNOWN||1||||||F";

fn parse(text: &str) -> Result<MonitorMessage, ParseError> {
    parse_oru(
        &Message::parse(text).unwrap(),
        &Catalogue::builtin(),
        &CodeMap::defaults(),
    )
}

fn values(m: &MonitorMessage) -> Vec<(&str, f64)> {
    m.readings
        .iter()
        .map(|r| (r.item.as_str(), (r.value * 1000.0).round() / 1000.0))
        .collect()
}

#[test]
fn pcd01_example() {
    let m = parse(PCD01).unwrap();
    assert_eq!(m.form, MessageForm::Pcd01);
    assert_eq!(m.control_id, "MSG00017");
    assert_eq!(m.sending_application, "ACME_GW");
    assert_eq!(m.sending_facility, "F00001");
    assert_eq!(m.version, "2.6");
    assert_eq!(m.sent_at, Some(T1015 + 30_000));
    let loc = m.location.clone().unwrap();
    assert_eq!(
        (
            loc.point_of_care.as_str(),
            loc.room.as_str(),
            loc.bed.as_str()
        ),
        ("ICU", "3", "BED-07")
    );
    assert_eq!(m.patient_ids[0].id, "TEST0001");
    assert_eq!(m.patient_ids[0].assigning_authority, "F00001");
    assert_eq!(m.patient_ids[0].id_type, "PI");
    let name = m.patient_name.clone().unwrap();
    assert_eq!(name.family, "試験");
    assert_eq!(name.given_kana.as_deref(), Some("イチロウ"));

    assert_eq!(
        values(&m),
        [
            ("hr", 72.0),
            ("spo2", 97.0),
            ("sbp", 118.0),
            ("dbp", 64.0),
            ("map", 82.0),
            ("temp", 37.5), // 99.5 °F
            ("fio2", 0.4),  // 40 %
            ("cvp", 9.001), // 1.2 kPa
            ("spo2", 96.0), // Philips partition-term
        ]
    );
    let hr = &m.readings[0];
    assert_eq!(hr.at, T1015);
    assert_eq!(hr.raw_code, "147842");
    assert_eq!(hr.raw_unit, "264864");
    assert_eq!(hr.status, ResultStatus::Preliminary);
    assert_eq!(hr.device.as_deref(), Some("ACDE48234567ABCD"));
    assert_eq!(hr.obx_index, 4);
    // OBX-14 wins; without it OBR-7.
    assert_eq!(m.readings[1].at, T1015 - MINUTE);
    assert_eq!(m.readings[1].status, ResultStatus::Final);
    assert_eq!(m.readings[2].at, T1015);
    assert_eq!(m.readings[4].status, ResultStatus::Corrected);
    assert_eq!(m.readings[8].raw_code, "0002-4BB8");

    let problems: Vec<(usize, &ProblemKind)> =
        m.problems.iter().map(|p| (p.obx_index, &p.kind)).collect();
    assert_eq!(problems.len(), 7, "{:#?}", m.problems);
    assert!(
        matches!(problems[0], (11, ProblemKind::ImpossibleValue { value, .. }) if *value == 140.0)
    );
    assert_eq!(problems[1], (12, &ProblemKind::Invalid));
    assert_eq!(problems[2], (13, &ProblemKind::UnknownCode));
    assert_eq!(problems[3], (14, &ProblemKind::Unparsable));
    assert_eq!(problems[4], (16, &ProblemKind::UnknownUnit));
    assert_eq!(problems[5], (18, &ProblemKind::NoTime));
    assert_eq!(problems[6], (19, &ProblemKind::NoTime));
    let texts: Vec<&str> = m.problems.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "OBX 11: SpO2 140 % is impossible (possible: 0–100 %)",
            "OBX 12: Respiratory rate marked invalid by the sender (OBX-11 X)",
            "OBX 13: code 150300 (MDC_PRESS_CUFF) is not in the mdc code table",
            "OBX 14: Pulse rate value \"7x\" is not a number",
            "OBX 16: Heart rate in unit \"266016\" cannot be converted to /min",
            "OBX 18: OBX-14 \"2024031510\" is not precise to the minute",
            "OBX 19: OBX-14 \"yesterday\" is not a timestamp",
        ]
    );
}

#[test]
fn nihon_kohden_example() {
    let m = parse(NK).unwrap();
    assert_eq!(m.form, MessageForm::NihonKohden);
    assert_eq!(m.sending_application, "CNS-6201");
    assert_eq!(m.location.clone().unwrap().bed, "BED-001");
    assert_eq!(m.location.clone().unwrap().point_of_care, "");
    assert_eq!(m.patient_ids[0].id, "0012345");
    assert_eq!(m.patient_name.clone().unwrap().family_kana, None);
    assert_eq!(
        values(&m),
        [
            ("spo2", 98.0),
            ("hr", 88.0),
            ("sbp", 132.0),
            ("dbp", 78.0),
            ("map", 96.0),
            ("temp", 37.4)
        ]
    );
    // Each group's time comes from its OBR; no offset means JST.
    assert_eq!(m.readings[0].at, T1015);
    assert_eq!(m.readings[2].at, T1015 - 13 * MINUTE);
    assert_eq!(m.readings[5].at, T1015);
    assert!(m.readings.iter().all(|r| r.device.is_none()));
    assert_eq!(m.problems.len(), 1);
    assert_eq!(m.problems[0].kind, ProblemKind::UnknownCode);
    assert_eq!(
        m.problems[0].text,
        "OBX 7: code 099999 (UNKNOWN) is not in the nk code table"
    );
}

#[test]
fn times_with_and_without_offsets_agree() {
    let with = NK.replace("20240315101500\r", "20240315011500+0000\r");
    let m = parse(&with).unwrap();
    assert_eq!(m.readings[0].at, T1015);
    let eastern = NK.replace("20240315101500\r", "20240314201500-0500\r");
    assert_eq!(parse(&eastern).unwrap().readings[0].at, T1015);
    // Without OBR-7 the message time counts.
    let no_obr_time = NK.replace("OBR|1|||VITAL|||20240315101500", "OBR|1|||VITAL");
    assert_eq!(parse(&no_obr_time).unwrap().readings[0].at, T1015 + 30_000);
    // Without any time the observation is dropped, not stamped with "now".
    let no_time = no_obr_time.replace("|20240315101530|", "||");
    let m = parse(&no_time).unwrap();
    assert_eq!(m.problems[0].kind, ProblemKind::NoTime);
    assert_eq!(
        m.problems[0].text,
        "OBX 1: no time in OBX-14, OBR-7 or MSH-7"
    );
}

#[test]
fn form_detection() {
    // MDC coding alone marks PCD-01, even without MSH-21.
    let no_profile = PCD01.replace("PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO", "");
    assert_eq!(parse(&no_profile).unwrap().form, MessageForm::Pcd01);
    // Philips names its profile IHE_PCD_001.
    let philips = NK.replace(
        "|2.4",
        "|2.6|||NE|AL|||||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
    );
    assert_eq!(parse(&philips).unwrap().form, MessageForm::Pcd01);
}

#[test]
fn site_tables_for_other_coding_systems() {
    let cat = Catalogue::builtin();
    let map = CodeMap::defaults()
        .with_csv("99ACME,T-RECT,temp_rectal,,,\n99ACME,GCS,gcs,,,", &cat)
        .unwrap();
    let text = "MSH|^~\\&|ACME|F00003|||20240315101530||ORU^R01|A1|P|2.5\r\
                PV1||I|ICU^^B1\r\
                OBX|1|NM|T-RECT^Rectal^99ACME||38.2|Cel|||||F\r\
                OBX|2|NM|GCS^GCS^99ACME||7.5||||||F\r\
                OBX|3|NM|GCS^GCS^99ACME||9||||||F";
    let Inbound::Observations(m) = parse_text(text, &cat, &map).unwrap() else {
        panic!("not observations")
    };
    assert!(m.patient_ids.is_empty(), "a bed alone is enough");
    assert_eq!(values(&m), [("temp_rectal", 38.2), ("gcs", 9.0)]);
    assert!(matches!(
        m.problems[0].kind,
        ProblemKind::ImpossibleValue { .. }
    ));
}

#[test]
fn structural_errors() {
    let cat = Catalogue::builtin();
    let map = CodeMap::defaults();
    let err = |t: &str| parse_text(t, &cat, &map).unwrap_err().to_string();
    assert_eq!(
        err("MSH|^~\\&|A|F1|||20240101||ORU^R01|1|P|2.5\rPID|||X\rPV1||I|^^B"),
        "ORU^R01 without any OBX segment: no observations to store"
    );
    assert_eq!(
        err("MSH|^~\\&|A|F1|||20240101||ORU^R01|1|P|2.5\rOBX|1|NM|007000||1"),
        "neither a bed (PV1-3) nor a patient ID (PID-3): the values cannot be attributed to anyone"
    );
    assert_eq!(
        err("MSH|^~\\&|A|F1|||20240101||ORM^O01|1|P|2.5\rOBX|1|NM|007000||1"),
        "unsupported message type \"ORM^O01\": expected ORU^R01 or ADT^A01, A02, A03, A08, A11, A13"
    );
    assert_eq!(
        err("MSH|^~\\&|A|F1|||20240101||ORU^R30|1|P|2.5\rPV1||I|^^B\rOBX|1|NM|007000||1"),
        "unsupported message type \"ORU^R30\": expected ORU^R01"
    );
    assert_eq!(
        err("PID|1"),
        "not an HL7 v2 message: message must start with an MSH segment, found \"PID|1\" in segment 1"
    );
    // ADT goes to bed events.
    let adt = "MSH|^~\\&|HIS|F1|||20240101||ADT^A01|1|P|2.5\rPID|||X1\rPV1||I|ICU^^BED-1";
    assert!(matches!(
        parse_text(adt, &cat, &map).unwrap(),
        Inbound::Bed(_)
    ));
}

#[test]
fn readings_serialise_for_the_ingest_log() {
    let m = parse(PCD01).unwrap();
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["form"], "pcd01");
    assert_eq!(json["readings"][0]["item"], "hr");
    assert_eq!(json["problems"][0]["kind"], "impossible_value");
    assert_eq!(json["problems"][0]["range"]["max"], 100.0);
}

/// Tiny xorshift for the mutation loop (no dependency, reproducible).
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn truncated_or_garbled_input_never_panics() {
    let cat = Catalogue::builtin();
    let map = CodeMap::defaults();
    for sample in [PCD01, NK] {
        // Every truncation.
        for (cut, _) in sample.char_indices() {
            let _ = parse_text(&sample[..cut], &cat, &map);
        }
        // Random replacements with delimiter-heavy characters.
        let alphabet: Vec<char> = "|^~\\&\r\n0123456789.-+XMSHOBXPIDV ℃".chars().collect();
        let chars: Vec<char> = sample.chars().collect();
        let mut rng = XorShift(0x5EED);
        for _ in 0..2000 {
            let mut garbled = chars.clone();
            for _ in 0..1 + rng.next() % 8 {
                let at = (rng.next() as usize) % garbled.len();
                garbled[at] = alphabet[(rng.next() as usize) % alphabet.len()];
            }
            let text: String = garbled.into_iter().collect();
            if let Ok(Inbound::Observations(m)) = parse_text(&text, &cat, &map) {
                // Whatever survives is still in range and in canonical units.
                for r in &m.readings {
                    assert!(cat.get(&r.item).unwrap().is_plausible(r.value), "{r:?}");
                }
            }
        }
    }
}
