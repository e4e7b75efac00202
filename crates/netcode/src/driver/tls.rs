//! Certificates and TLS settings for the QUIC endpoint.
//!
//! Embedded mode generates an ECDSA P-256 development certificate valid for at
//! most 13 days (browsers accept a pinned certificate hash only for short-lived
//! certificates) and rotates it before it expires. Clients pin it by its SHA-256
//! hash, the same value a browser passes as `serverCertificateHashes`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ring::digest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use thiserror::Error;

/// Our ALPN for raw QUIC (native clients, bots).
pub const ALPN_MERIDIAN: &[u8] = b"meridian/1";

/// The ALPN of HTTP/3, under which browsers open WebTransport sessions.
pub const ALPN_H3: &[u8] = b"h3";

/// The longest validity a development certificate may have.
pub const MAX_DEV_CERT_VALIDITY: Duration = Duration::from_secs(13 * 24 * 3600);

/// Why TLS could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Generating the certificate failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// quinn refused the TLS configuration (no TLS 1.3 cipher suite).
    #[error("QUIC TLS configuration refused: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// The requested validity is longer than allowed.
    #[error("a development certificate may be valid for at most 13 days")]
    TooLong,
}

/// A certificate and its key, with the hash clients pin.
#[derive(Debug)]
pub struct DevCertificate {
    /// DER of the certificate.
    pub der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    /// SHA-256 of the DER.
    pub sha256: [u8; 32],
    /// When it stops being valid.
    pub not_after: SystemTime,
}

impl DevCertificate {
    /// A fresh self-signed certificate for `localhost` and 127.0.0.1, valid from a
    /// minute before `now` for `validity` (at most 13 days).
    pub fn generate(now: SystemTime, validity: Duration) -> Result<Self, TlsError> {
        if validity > MAX_DEV_CERT_VALIDITY {
            return Err(TlsError::TooLong);
        }
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        let not_before = now - Duration::from_secs(60);
        let not_after = now + validity;
        params.not_before = time::OffsetDateTime::from(not_before);
        params.not_after = time::OffsetDateTime::from(not_after);
        let certificate = params.self_signed(&key)?;
        let der = certificate.der().clone();
        let sha256 = sha256(&der);
        Ok(Self {
            der,
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            sha256,
            not_after,
        })
    }

    /// The hash as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// A quinn server configuration offering `alpns`, with our transport
    /// settings (datagrams on, one bidirectional stream per connection).
    pub fn server_config(
        &self,
        alpns: &[&[u8]],
        idle_timeout: Duration,
    ) -> Result<quinn::ServerConfig, TlsError> {
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.der.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )?;
        tls.alpn_protocols = alpns.iter().map(|alpn| alpn.to_vec()).collect();
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(Arc::new(transport(idle_timeout)));
        Ok(config)
    }
}

/// Transport settings shared by both ends.
pub fn transport(idle_timeout: Duration) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    // Idle timeouts far beyond the VarInt range are clamped by try_from failing;
    // fall back to none (the netcode layer has its own).
    transport.max_idle_timeout(quinn::IdleTimeout::try_from(idle_timeout).ok());
    transport.keep_alive_interval(Some(idle_timeout / 4));
    transport.datagram_receive_buffer_size(Some(256 * 1024));
    transport.datagram_send_buffer_size(256 * 1024);
    // Raw QUIC uses one bidirectional stream; HTTP/3 adds the CONNECT request
    // stream and three unidirectional ones (control, QPACK encoder and decoder).
    transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(4));
    transport.max_concurrent_uni_streams(quinn::VarInt::from_u32(8));
    transport
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Parses 64 hex digits into a SHA-256 hash.
pub fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * index..2 * index + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A quinn client configuration that trusts exactly the certificate with this
/// SHA-256 hash (what a browser does with `serverCertificateHashes`).
pub fn pinned_client_config(
    sha256: [u8; 32],
    idle_timeout: Duration,
) -> Result<quinn::ClientConfig, TlsError> {
    pinned_client_config_for(sha256, idle_timeout, ALPN_MERIDIAN)
}

/// [`pinned_client_config`] offering another ALPN (the shard link's).
pub fn pinned_client_config_for(
    sha256: [u8; 32],
    idle_timeout: Duration,
    alpn: &[u8],
) -> Result<quinn::ClientConfig, TlsError> {
    let provider = provider();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCertificate { sha256, provider }))
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport(idle_timeout)));
    Ok(config)
}

/// Accepts exactly one certificate, by hash; signatures are still checked.
#[derive(Debug)]
struct PinnedCertificate {
    sha256: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if sha256(end_entity) == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
