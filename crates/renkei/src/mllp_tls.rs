//! TLS for MLLP: the listener's acceptor (settings `mllp_tls_cert`, `mllp_tls_key` and,
//! for mutual TLS, `mllp_tls_client_ca`) and the client side used by
//! `renkei simulate monitors --tls-ca` to test a hospital's TLS set-up end to end.
//!
//! rustls with the ring provider, like the HTTPS listener; TLS 1.2 and 1.3 only.

use anyhow::{bail, Context};
use renkei_hl7::mllp::{ClientOptions, MllpConnection};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {what} {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{what} {} is not PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{what} {} holds no certificate", path.display());
    }
    Ok(certs)
}

fn read_key(path: &Path, what: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading {what} {} (a PEM private key)", path.display()))
}

fn roots(path: &Path, what: &str) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(path, what)? {
        roots
            .add(cert)
            .with_context(|| format!("{what} {}: unusable CA certificate", path.display()))?;
    }
    Ok(roots)
}

/// The listener's TLS acceptor. With `client_ca`, a client must present a certificate
/// signed by one of those CAs or the handshake fails.
pub fn acceptor(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<TlsAcceptor> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca, "mllp_tls_client_ca")?),
                provider(),
            )
            .build()
            .context("building the MLLP client-certificate check")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(
            read_certs(cert, "mllp_tls_cert")?,
            read_key(key, "mllp_tls_key")?,
        )
        .with_context(|| {
            format!(
                "mllp_tls_cert {} and mllp_tls_key {} do not form a usable pair",
                cert.display(),
                key.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How a client reaches a TLS listener.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl ClientTls {
    /// Trusts the CAs in `ca`; presents `identity` (certificate, key) when given; checks
    /// the server certificate against `server_name`.
    pub fn new(
        ca: &Path,
        identity: Option<(&Path, &Path)>,
        server_name: &str,
    ) -> anyhow::Result<ClientTls> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots(ca, "--tls-ca")?);
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(read_certs(cert, "--tls-cert")?, read_key(key, "--tls-key")?)
                .context("the client certificate and key do not form a usable pair")?,
            None => builder.with_no_client_auth(),
        };
        let server_name = ServerName::try_from(server_name.to_string())
            .with_context(|| format!("{server_name:?} is not a valid TLS server name"))?;
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }
}

/// A byte stream of either kind.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Connects to an MLLP listener, over TLS when `tls` is given.
pub async fn connect(
    addr: &str,
    tls: Option<&ClientTls>,
    options: &ClientOptions,
) -> anyhow::Result<MllpConnection<Box<dyn Stream>>> {
    let tcp = tokio::time::timeout(options.timeout, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out"))?
        .with_context(|| format!("connecting to {addr}"))?;
    tcp.set_nodelay(true)?;
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(tls) => Box::new(
            tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                tls.connector.connect(tls.server_name.clone(), tcp),
            )
            .await
            .map_err(|_| anyhow::anyhow!("TLS handshake with {addr} timed out"))?
            .with_context(|| format!("TLS handshake with {addr}"))?,
        ),
    };
    Ok(MllpConnection::over(stream, options))
}
