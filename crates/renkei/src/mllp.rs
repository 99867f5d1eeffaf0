//! The HL7 v2 MLLP listener: hospitals push the SS-MIX2 message types (ADT, PPR, RDE/RAS,
//! OUL/ORU) and get an original-mode ACK per message.
//!
//! AA is sent only after the message's resources are committed; AE when the content is
//! wrong (the sender must not resend it unchanged); AR when the message cannot be taken
//! now or at all (unsupported type, unknown sender, storage trouble — the sender may
//! retry). Messages are handled one at a time per connection, as original mode requires.
//! The shape follows mini-redis's listener: a bounded number of connections, each on
//! its own task, all stopped by the shutdown signal.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use renkei_core::clinical::Author;
use renkei_core::ingest::{IngestError, Ingestor};
use renkei_domain::patient::Requester;
use renkei_domain::{now_millis, FacilityStatus, Profession};
use renkei_hl7::ack::{build_ack_with_warnings, AckError, AckOptions, Acknowledgment, ErrorCode};
use renkei_hl7::encoding::{self, Charset};
use renkei_hl7::mllp::MllpCodec;
use renkei_hl7::Message;
use renkei_storage::{Facility, Store};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;

/// Most simultaneous connections; more wait in the accept backlog.
const MAX_CONNECTIONS: usize = 256;
/// Largest accepted frame.
const MAX_FRAME: usize = 16 * 1024 * 1024;
/// A connection idle this long is closed.
const IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// Which facility may push from where.
#[derive(Debug, Clone, Default)]
pub struct Senders {
    entries: Vec<(String, IpAddr)>,
}

impl Senders {
    /// Parses `F00001=10.0.0.5, F00002=10.0.0.6`.
    pub fn parse(text: &str) -> anyhow::Result<Senders> {
        let mut entries = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (facility, ip) = item
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("mllp_senders entry {item:?} is not FACILITY=IP"))?;
            let ip: IpAddr = ip.trim().parse().map_err(|_| {
                anyhow::anyhow!("mllp_senders entry {item:?}: {ip:?} is not an IP address")
            })?;
            entries.push((facility.trim().to_string(), ip));
        }
        Ok(Senders { entries })
    }

    /// Whether `peer` may send for `facility_id`.
    /// Whether `peer` may send for the facility, listed by its code (F00001) or its ID.
    fn allows(&self, facility_id: &str, code: Option<&str>, peer: IpAddr) -> bool {
        // On a dual-stack `[::]` bind IPv4 peers arrive as ::ffff:a.b.c.d.
        let peer = peer.to_canonical();
        if self.entries.is_empty() {
            return peer.is_loopback();
        }
        self.entries
            .iter()
            .any(|(f, ip)| (f == facility_id || code == Some(f.as_str())) && *ip == peer)
    }

    /// Whether `peer` may connect at all.
    fn admits(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        if self.entries.is_empty() {
            return peer.is_loopback();
        }
        self.entries.iter().any(|(_, ip)| *ip == peer)
    }
}

/// Accepts connections until `shutdown` resolves; with `tls`, every connection must
/// complete a TLS handshake first (plain MLLP is then refused).
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    senders: Senders,
    icu: Option<Arc<crate::mllp_icu::IcuRouter>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let senders = Arc::new(senders);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "MLLP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if !senders.admits(peer.ip()) {
            tracing::warn!(%peer, "MLLP connection from an unlisted address refused");
            continue;
        }
        // Small ACKs must not wait for Nagle; set before any TLS wrapping.
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "TCP_NODELAY not set");
        }
        let store = store.clone();
        let senders = senders.clone();
        let icu = icu.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let ended = match tls {
                None => connection(socket, peer, store, senders, icu).await,
                Some(acceptor) => {
                    match tokio::time::timeout(
                        crate::mllp_tls::HANDSHAKE_TIMEOUT,
                        acceptor.accept(socket),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => connection(stream, peer, store, senders, icu).await,
                        Ok(Err(e)) => {
                            metrics::counter!("renkei_mllp_tls_failures_total").increment(1);
                            tracing::warn!(%peer, error = %e, "MLLP TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            metrics::counter!("renkei_mllp_tls_failures_total").increment(1);
                            tracing::warn!(%peer, "MLLP TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = ended {
                tracing::info!(%peer, error = %e, "MLLP connection ended");
            }
            drop(permit);
        });
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    socket: S,
    peer: SocketAddr,
    store: Arc<dyn Store>,
    senders: Arc<Senders>,
    icu: Option<Arc<crate::mllp_icu::IcuRouter>>,
) -> anyhow::Result<()> {
    let mut framed = Framed::new(socket, MllpCodec::new(MAX_FRAME));
    loop {
        let frame = match tokio::time::timeout(IDLE, framed.next()).await {
            Err(_) => return Ok(()),
            Ok(None) => return Ok(()),
            Ok(Some(f)) => f?,
        };
        let started = std::time::Instant::now();
        let (reply, code) = handle(&frame, peer, store.as_ref(), &senders, icu.as_deref()).await;
        metrics::histogram!("renkei_mllp_message_seconds", "ack" => code)
            .record(started.elapsed().as_secs_f64());
        framed.send(Bytes::from(reply)).await?;
    }
}

/// Processes one frame and returns the encoded ACK and its code.
async fn handle(
    frame: &[u8],
    peer: SocketAddr,
    store: &dyn Store,
    senders: &Senders,
    icu: Option<&crate::mllp_icu::IcuRouter>,
) -> (Vec<u8>, &'static str) {
    let decoded = match encoding::decode(frame) {
        Ok(d) => d,
        Err(e) => return (raw_nak(&format!("cannot decode the message: {e}")), "AR"),
    };
    let charset = decoded.charset;
    let message = match Message::parse(decoded.text) {
        Ok(m) => m,
        Err(e) => return (raw_nak(&format!("not an HL7 v2 message: {e}")), "AR"),
    };
    let header = message.header();
    let (ack, warnings) = match process(&message, peer, store, senders, icu).await {
        Ok(warnings) => (Acknowledgment::Accept, warnings),
        Err(a) => (a, Vec::new()),
    };
    let code = ack.code();
    if code != "AA" {
        tracing::warn!(%peer, control_id = %header.control_id, ack = code, "HL7 message not accepted");
    }
    let text = build_ack_with_warnings(&header, &ack, &warnings, &AckOptions::default());
    // Answer in the sender's charset when we can encode it, else ASCII-safe UTF-8.
    let bytes = match charset {
        Charset::Ascii => text.into_bytes(),
        other => encoding::encode(&text, other).unwrap_or_else(|_| text.into_bytes()),
    };
    (bytes, code)
}

/// A reject for a frame that cannot be parsed at all (no header to mirror).
fn raw_nak(reason: &str) -> Vec<u8> {
    let clean: String = reason
        .chars()
        .map(|c| if "|^~\\&\r\n".contains(c) { ' ' } else { c })
        .collect();
    format!(
        "MSH|^~\\&|RENKEI|RENKEI|||{}||ACK|{}|P|2.5\rMSA|AR|\rERR|||100^Segment sequence error^HL70357|E||||{clean}",
        renkei_hl7::ack::utc_timestamp(),
        renkei_hl7::ack::next_control_id(),
    )
    .into_bytes()
}

fn reject(code: ErrorCode, text: impl Into<String>) -> Acknowledgment {
    Acknowledgment::Reject(AckError::new(code, text))
}

fn error(code: ErrorCode, text: impl Into<String>) -> Acknowledgment {
    Acknowledgment::Error(AckError::new(code, text))
}

/// The facility named by MSH-4 (first component): a facility code (F00001) or a 10-digit
/// medical institution code.
/// How long a sending facility looked up by MSH-4 is trusted: a suspension takes effect on
/// the listener within this time. Without the cache every message of a busy monitor link
/// would search the facility directory by code.
const FACILITY_TTL: std::time::Duration = std::time::Duration::from_secs(10);

type FacilityCache =
    std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Option<Facility>)>>;

async fn sending_facility(
    store: &dyn Store,
    msh4: &str,
) -> Result<Option<Facility>, renkei_storage::StoreError> {
    static CACHE: std::sync::OnceLock<FacilityCache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = msh4.split('^').next().unwrap_or_default();
    if let Some((at, found)) = cache.lock().expect("facility cache").get(id) {
        if at.elapsed() < FACILITY_TTL {
            return Ok(found.clone());
        }
    }
    let found = renkei_core::facilities::find(store, id).await?;
    let mut entries = cache.lock().expect("facility cache");
    // Senders are few; garbage in MSH-4 must not grow the map without bound.
    if entries.len() > 1_000 {
        entries.clear();
    }
    entries.insert(id.to_string(), (std::time::Instant::now(), found.clone()));
    Ok(found)
}

async fn process(
    message: &Message,
    peer: SocketAddr,
    store: &dyn Store,
    senders: &Senders,
    icu: Option<&crate::mllp_icu::IcuRouter>,
) -> Result<Vec<AckError>, Acknowledgment> {
    let header = message.header();
    if header.processing_id.starts_with('T') || header.processing_id.starts_with('D') {
        // Test/debug messages are acknowledged by the test connection procedure only.
        return Err(reject(
            ErrorCode::UnsupportedProcessingId,
            "processing ID T/D is not accepted on the production listener; send P",
        ));
    }
    let facility = match sending_facility(store, &header.sending_facility).await {
        Ok(Some(f)) if f.status == FacilityStatus::Active => f,
        Ok(_) => {
            return Err(reject(
                ErrorCode::UnknownKeyIdentifier,
                format!(
                    "MSH-4 {:?} is not an active facility of the network",
                    header.sending_facility
                ),
            ))
        }
        Err(e) => {
            return Err(reject(
                ErrorCode::ApplicationInternalError,
                format!("storage unavailable: {e}"),
            ))
        }
    };
    if !senders.allows(&facility.id, facility.code.as_deref(), peer.ip()) {
        return Err(reject(
            ErrorCode::UnknownKeyIdentifier,
            format!("{} may not send for {}", peer.ip(), facility.id),
        ));
    }
    let author = Author {
        requester: Requester {
            user_id: format!("mllp:{}", facility.id),
            facility_id: Some(facility.id.clone()),
            facility_type: Some(facility.facility_type),
            profession: Profession::Other,
            is_secretariat: false,
        },
        login_id: format!(
            "mllp:{}",
            header
                .sending_application
                .split('^')
                .next()
                .unwrap_or_default()
        ),
        facility_id: facility.id.clone(),
        source_system: format!("mllp:{}", peer.ip()),
        ip: Some(peer.ip().to_string()),
        user_agent: None,
    };
    if let Some(icu) = icu {
        if icu.claims(message, &facility).await {
            return icu.handle(message, &facility, &author).await;
        }
    }
    let source = format!("mllp:{}:{}", facility.id, header.control_id);
    let mut ingestor = Ingestor::new(store, facility, author, "ingest.mllp");
    let now = now_millis();
    match ingestor.add(message, None, &source, false, now).await {
        Ok(_) => {}
        Err(e @ IngestError::Unsupported(_)) => {
            return Err(reject(ErrorCode::UnsupportedMessageType, e.to_string()))
        }
        Err(IngestError::Store(e)) => {
            return Err(reject(
                ErrorCode::ApplicationInternalError,
                format!("storage unavailable: {e}"),
            ))
        }
        Err(e @ IngestError::Patient(_)) => {
            return Err(error(ErrorCode::RequiredFieldMissing, e.to_string()))
        }
        Err(e) => return Err(error(ErrorCode::DataTypeError, e.to_string())),
    }
    // AA only once the resources are committed.
    match ingestor.flush(now).await {
        Ok(_) => Ok(Vec::new()),
        Err(e) => Err(reject(
            ErrorCode::ApplicationInternalError,
            format!("not stored: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_bound_to_addresses() {
        let open = Senders::parse("").unwrap();
        assert!(open.allows("internal-id", Some("F00001"), "127.0.0.1".parse().unwrap()));
        assert!(open.admits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!open.admits("10.0.0.5".parse().unwrap()));
        let s = Senders::parse("F00001=10.0.0.5, F00002=10.0.0.6").unwrap();
        assert!(s.allows("internal-id", Some("F00001"), "10.0.0.5".parse().unwrap()));
        assert!(s.allows(
            "internal-id",
            Some("F00001"),
            "::ffff:10.0.0.5".parse().unwrap()
        ));
        assert!(!s.allows("internal-id", Some("F00002"), "10.0.0.5".parse().unwrap()));
        assert!(!s.admits("127.0.0.1".parse().unwrap()));
        assert!(Senders::parse("F00001").is_err());
        assert!(Senders::parse("F00001=host").is_err());
    }

    #[test]
    fn unparseable_frames_get_a_reject_without_delimiters_in_the_text() {
        let nak = String::from_utf8(raw_nak("bad | thing\r")).unwrap();
        assert!(nak.contains("MSA|AR|"));
        assert!(nak.ends_with("bad   thing "));
    }
}
