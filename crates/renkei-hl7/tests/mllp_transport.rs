//! MLLP framing across arbitrary chunk boundaries and over real TCP.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use renkei_hl7::ack::{self, AckError, Acknowledgment, ErrorCode};
use renkei_hl7::encoding;
use renkei_hl7::message::Message;
use renkei_hl7::mllp::{self, MllpCodec, MllpError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::codec::{Decoder, Encoder};

fn sample_payloads() -> Vec<Vec<u8>> {
    let oru = "MSH|^~\\&|NK|ICU|RENKEI|H|20240101120000||ORU^R01|1|P|2.4||||||~ISO IR87\r\
               PV1||I|^^BED-001\rOBR|1||||||20240101120000\r\
               OBX|1|NM|007000^VITAL SpO2||97|%|||||F";
    vec![
        encoding::encode_iso2022jp(oru).unwrap(),
        encoding::encode_iso2022jp(
            "MSH|^~\\&|A|B|C|D|1||ADT^A08|2|P|2.5\rPID|1||9^^^^PI||患者^太郎",
        )
        .unwrap(),
        b"MSH|^~\\&|X".to_vec(),
        Vec::new(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Concatenated frames (with junk between) split at random points decode
    /// to exactly the original payloads.
    #[test]
    fn frames_split_at_arbitrary_boundaries(
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        junk in prop::collection::vec(prop::collection::vec(
            any::<u8>().prop_filter("no VT", |b| *b != 0x0B), 0..5), 4),
    ) {
        let payloads = sample_payloads();
        let mut codec = MllpCodec::new(4096);
        let mut stream = BytesMut::new();
        let mut junk_len = 0;
        for (p, j) in payloads.iter().zip(&junk) {
            stream.extend_from_slice(j);
            junk_len += j.len();
            codec.encode(p.as_slice(), &mut stream).unwrap();
        }
        let bytes = stream.freeze();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();

        let mut decoder = MllpCodec::new(4096);
        let mut buf = BytesMut::new();
        let mut got: Vec<Bytes> = Vec::new();
        for w in points.windows(2) {
            buf.extend_from_slice(&bytes[w[0]..w[1]]);
            while let Some(f) = decoder.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        prop_assert_eq!(decoder.decode_eof(&mut buf).unwrap(), None);
        let expected: Vec<Bytes> = payloads.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(decoder.skipped_bytes(), junk_len as u64);
    }
}

/// A minimal receiver: decode frames, parse, answer AA (or AE for no PID).
async fn ack_server(listener: TcpListener) {
    let (mut sock, _) = listener.accept().await.unwrap();
    let mut codec = MllpCodec::default();
    let mut buf = BytesMut::new();
    loop {
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            let decoded = encoding::decode(&frame).unwrap();
            let msg = Message::parse(decoded.text).unwrap();
            let reply = if msg.segment("PID").is_some() {
                Acknowledgment::Accept
            } else {
                Acknowledgment::Error(AckError::new(
                    ErrorCode::SegmentSequenceError,
                    "PID segment missing / PIDがありません",
                ))
            };
            let text = ack::build_ack(&msg, &reply, &Default::default());
            let bytes = encoding::encode(&text, decoded.charset).unwrap();
            let mut out = BytesMut::new();
            codec.encode(bytes.as_slice(), &mut out).unwrap();
            // Write the reply in two pieces to exercise the client's reassembly.
            let mid = out.len() / 2;
            sock.write_all(&out[..mid]).await.unwrap();
            sock.flush().await.unwrap();
            sock.write_all(&out[mid..]).await.unwrap();
        }
        if sock.read_buf(&mut buf).await.unwrap() == 0 {
            return;
        }
    }
}

#[tokio::test]
async fn send_and_receive_gets_the_ack() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(ack_server(listener));

    let msg = encoding::encode_iso2022jp(
        "MSH|^~\\&|HIS|S|GW|R|20240101||ADT^A08^ADT_A01|CTL-9|P|2.5||||||~ISO IR87\rPID|1||9^^^^PI||患者^太郎",
    )
    .unwrap();
    let reply = mllp::send_and_receive(addr, &msg).await.unwrap();
    let decoded = encoding::decode(&reply).unwrap();
    assert_eq!(decoded.charset, encoding::Charset::Ascii);
    let ack = Message::parse(decoded.text).unwrap();
    assert_eq!(ack.get("MSA-1").unwrap(), "AA");
    assert_eq!(ack.get("MSA-2").unwrap(), "CTL-9");
    assert_eq!(ack.get("MSH-3").unwrap(), "GW");
    assert_eq!(ack.get("MSH-9.2").unwrap(), "A08");
    server.await.unwrap();
}

#[tokio::test]
async fn error_ack_carries_japanese_text_in_iso2022jp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(ack_server(listener));
    let msg = encoding::encode_iso2022jp(
        "MSH|^~\\&|HIS|S|GW|R|20240101||ADT^A08^ADT_A01|CTL-10|P|2.5||||||~ISO IR87\rEVN||患者",
    )
    .unwrap();
    let reply = mllp::send_and_receive(addr, &msg).await.unwrap();
    let decoded = encoding::decode(&reply).unwrap();
    assert_eq!(decoded.charset, encoding::Charset::Iso2022Jp);
    let ack = Message::parse(decoded.text).unwrap();
    assert_eq!(ack.get("MSA-1").unwrap(), "AE");
    assert_eq!(ack.get("ERR-3.1").unwrap(), "100");
    assert_eq!(
        ack.get("ERR-8").unwrap(),
        "PID segment missing / PIDがありません"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn client_errors_are_typed() {
    // Server that closes without answering.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut b = [0u8; 64];
        let _ = s.read(&mut b).await;
    });
    let err = mllp::send_and_receive(addr, b"MSH|^~\\&")
        .await
        .unwrap_err();
    assert!(matches!(err, MllpError::ConnectionClosed), "{err}");
    server.await.unwrap();

    // Server that never answers: timeout.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        drop(s);
    });
    let opts = mllp::ClientOptions {
        timeout: std::time::Duration::from_millis(100),
        ..Default::default()
    };
    let err = mllp::send_and_receive_with(addr, b"MSH|^~\\&", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, MllpError::Timeout(_)), "{err}");
    server.await.unwrap();

    // Payload containing a framing byte is refused before connecting.
    let err = mllp::send_and_receive(addr, b"a\x1cb").await.unwrap_err();
    assert!(
        matches!(err, MllpError::InvalidPayload { offset: 1, .. }),
        "{err}"
    );
}
