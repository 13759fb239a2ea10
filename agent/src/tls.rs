//! The agent's HTTPS client: rustls with the OS roots, the bundled Mozilla roots and an
//! optional extra CA bundle (`--fleet-certificate`), an optional client certificate for mTLS,
//! and certificate checks off only with `--insecure`. The Fleet connection and the TUF
//! connection each get their own client (their client certificates differ).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM bundle of extra trusted CAs (or a self-signed server certificate).
    pub extra_roots: Option<PathBuf>,
    /// PEM client certificate (chain) and its private key, for mTLS.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Accept any server certificate (`--insecure`).
    pub insecure: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificates from {0}: {1}")]
    Certificates(PathBuf, String),
    #[error("no certificate in {0}")]
    NoCertificate(PathBuf),
    #[error("cannot read the private key {0}: {1}")]
    PrivateKey(PathBuf, String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificates(path.to_path_buf(), e.to_string()))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certificates)
}

/// The OS store (when it can be read), Mozilla's roots, and `extra`.
fn root_store(extra: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // A missing or partly unreadable OS store is not fatal: Mozilla's roots remain.
    let native = rustls_native_certs::load_native_certs();
    for certificate in native.certs {
        let _ = roots.add(certificate);
    }
    if let Some(path) = extra {
        for certificate in read_certificates(path)? {
            roots
                .add(certificate)
                .map_err(|e| TlsError::Certificates(path.to_path_buf(), e.to_string()))?;
        }
    }
    Ok(roots)
}

/// The rustls configuration these options describe.
pub fn client_config(options: &TlsOptions) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider())))
    } else {
        builder.with_root_certificates(root_store(options.extra_roots.as_deref())?)
    };
    match &options.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((certificate, key)) => {
            let chain = read_certificates(certificate)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| TlsError::PrivateKey(key.to_path_buf(), e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Config(e.to_string()))
        }
    }
}

/// An HTTP client over `client_config(options)`.
pub fn http_client(options: &TlsOptions) -> Result<reqwest::Client, TlsError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_config(options)?)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("flotilla-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))
}

/// `--insecure`: any certificate is accepted, but the handshake signatures are still checked.
#[derive(Debug)]
struct AnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
