//! An rcgen certificate authority with a server certificate for 127.0.0.1 and a client
//! certificate, written as PEM files where the agent's `TlsOptions` expect paths, plus rustls
//! server configurations with and without a required client certificate.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

pub struct Leaf {
    pub certificate: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub certificate_pem: PathBuf,
    pub key_pem: PathBuf,
}

pub struct Pki {
    pub ca_pem: PathBuf,
    ca_der: CertificateDer<'static>,
    pub server: Leaf,
    pub client: Leaf,
}

fn leaf(
    dir: &Path,
    name: &str,
    params: CertificateParams,
    issuer: &CertifiedIssuer<'_, KeyPair>,
) -> Leaf {
    let key = KeyPair::generate().expect("key");
    let certificate = params.signed_by(&key, issuer).expect("sign leaf");
    let certificate_pem = dir.join(format!("{name}.crt"));
    let key_pem = dir.join(format!("{name}.key"));
    std::fs::write(&certificate_pem, certificate.pem()).expect("write certificate");
    std::fs::write(&key_pem, key.serialize_pem()).expect("write key");
    Leaf {
        certificate: certificate.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        certificate_pem,
        key_pem,
    }
}

impl Pki {
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
        let ca_pem = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca_pem, ca.pem()).expect("write CA");

        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("params");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("params");
        client
            .distinguished_name
            .push(DnType::CommonName, "host-1234");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];

        Pki {
            ca_der: ca.der().clone(),
            server: leaf(dir, &format!("{name}-server"), server, &ca),
            client: leaf(dir, &format!("{name}-client"), client, &ca),
            ca_pem,
        }
    }

    /// Serves `server`'s certificate; clients need not present one.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.server.certificate.clone()],
                self.server.key.clone_key(),
            )
            .expect("server config");
        Arc::new(config)
    }

    /// Serves `server`'s certificate and refuses any client without a certificate from
    /// `client_ca`'s authority.
    pub fn mtls_server_config(&self, client_ca: &Pki) -> Arc<ServerConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(client_ca.ca_der.clone()).expect("client CA");
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("client verifier");
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![self.server.certificate.clone()],
                self.server.key.clone_key(),
            )
            .expect("server config");
        Arc::new(config)
    }
}

/// A self-signed server certificate for 127.0.0.1 (no CA), as PEM file and rustls config.
pub fn self_signed_server(dir: &Path) -> (PathBuf, Arc<ServerConfig>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("self-signed");
    let pem = dir.join("self-signed.crt");
    std::fs::write(&pem, certified.cert.pem()).expect("write certificate");
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key.into())
        .expect("server config");
    (pem, Arc::new(config))
}
