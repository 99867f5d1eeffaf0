//! No input may panic the parser, decoder, codec or name parser.

use bytes::BytesMut;
use proptest::prelude::*;
use renkei_hl7::encoding;
use renkei_hl7::message::{Message, Path};
use renkei_hl7::mllp::MllpCodec;
use renkei_hl7::ssmix2::FileName;
use tokio_util::codec::Decoder;

/// Touches every accessor on every segment and field.
fn exercise(msg: &Message) {
    let _ = msg.header();
    let _ = msg.to_string();
    for seg in msg.segments() {
        let _ = (seg.id(), seg.raw());
        for n in 0..=seg.field_count() + 1 {
            let f = seg.field(n);
            let _ = f.value();
            for (r, rep) in f.repetitions().enumerate() {
                let _ = f.repetition(r + 2).component(1).subcomponent(1).value();
                for c in rep.components() {
                    let _ = c.value();
                    for s in 1..=c.subcomponent_count() + 1 {
                        let _ = c.subcomponent(s).value();
                    }
                }
            }
        }
    }
    for p in [
        "MSH-1",
        "MSH-2",
        "MSH-9.2",
        "PID-5[2].1",
        "OBX[2]-5.1.1",
        "ZZZ-999",
    ] {
        let _ = msg.get(p);
        let _ = msg.get_raw(p);
    }
}

/// Strings made mostly of HL7 syntax, so the parser gets past MSH often.
fn hl7ish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("MSH".to_string()),
        Just("PID".to_string()),
        Just("OBX".to_string()),
        Just("|".to_string()),
        Just("^".to_string()),
        Just("~".to_string()),
        Just("\\".to_string()),
        Just("&".to_string()),
        Just("#".to_string()),
        Just("\r".to_string()),
        Just("\n".to_string()),
        Just("\\X".to_string()),
        Just("\\F\\".to_string()),
        Just("\u{1C}".to_string()),
        Just("患者".to_string()),
        "[0-9A-Za-z]{0,3}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(atom, 0..60).prop_map(|v| {
        let mut s = String::from("MSH|^~\\&");
        s.extend(v);
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_arbitrary_strings(s in any::<String>()) {
        if let Ok(m) = Message::parse(s) { exercise(&m) }
    }

    #[test]
    fn parse_hl7ish_strings(s in hl7ish()) {
        if let Ok(m) = Message::parse(s.clone()) {
            exercise(&m);
            // Every non-empty line must be a segment of the result.
            prop_assert!(m.segment_count() >= 1);
        }
        // A message with a valid MSH start and only valid segments never fails.
        let _ = Message::parse(s);
    }

    #[test]
    fn decode_then_parse_arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(d) = encoding::decode(&b) {
            if let Ok(m) = Message::parse(d.text) { exercise(&m) }
        }
    }

    #[test]
    fn iso2022jp_round_trips_jis_text(s in "[a-zA-Z0-9|^~&\\\\ 患者太郎カンジャタロウ静岡県登呂。、ー]{0,40}") {
        let bytes = encoding::encode_iso2022jp(&s).unwrap();
        let d = encoding::decode(&bytes).unwrap();
        prop_assert_eq!(d.text, s);
    }

    #[test]
    fn unescape_escape_round_trip(s in any::<String>()) {
        let d = renkei_hl7::message::Delimiters::default();
        let escaped = d.escape(&s);
        prop_assert!(!escaped.contains(['|', '^', '~', '&', '\r', '\n']));
        prop_assert_eq!(d.unescape(&escaped), s.as_str());
        let _ = d.unescape(&s);
    }

    #[test]
    fn path_and_file_name_never_panic(s in any::<String>(), t in "[0-9A-Z_\\-\\[\\].]{0,30}") {
        let _ = s.parse::<Path>();
        let _ = t.parse::<Path>();
        let _ = FileName::parse(&s);
        let _ = FileName::parse(&t);
    }

    #[test]
    fn mllp_decoder_arbitrary_chunks(
        chunks in prop::collection::vec(prop::collection::vec(
            prop_oneof![Just(0x0Bu8), Just(0x1C), Just(0x0D), any::<u8>()], 0..40), 0..20),
        max in 0usize..64,
    ) {
        let mut codec = MllpCodec::new(max);
        let mut buf = BytesMut::new();
        for c in chunks {
            buf.extend_from_slice(&c);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        prop_assert!(frame.len() <= max);
                        prop_assert!(!frame.contains(&0x0B) && !frame.contains(&0x1C));
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            // Memory stays bounded by the maximum frame plus framing.
            prop_assert!(buf.len() <= max + 2, "buffered {} > {}", buf.len(), max + 2);
        }
        let _ = codec.decode_eof(&mut buf);
    }
}

/// Plain randomized loop (no shrinking) over larger raw inputs.
#[test]
fn randomized_loop_large_inputs() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"MSHPIDOBX|^~\\&#\r\n\x0b\x1c\x1b$B(J0123\xfb\xfc\x82\xa0";
    for _ in 0..2000 {
        let len = (next() % 2000) as usize;
        let mut bytes = b"MSH|^~\\&|".to_vec();
        bytes.extend((0..len).map(|_| {
            let r = next();
            if r % 4 == 0 {
                r as u8
            } else {
                alphabet[(r >> 8) as usize % alphabet.len()]
            }
        }));
        if let Ok(d) = encoding::decode(&bytes) {
            if let Ok(m) = Message::parse(d.text) {
                exercise(&m);
            }
        }
    }
}
