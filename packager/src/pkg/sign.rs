//! Signs a flat package as `productsign` does: an RSA signature and a CMS signature over the
//! checksum of the xar's table of contents, with the signer's certificate chain in the TOC.
//! The signing is apple-xar's (the signer rcodesign uses for .pkg installers); this module
//! reads the identity, checks it and checks the result.
//!
//! The identity is PEM text: the Developer ID Installer certificate, its intermediates and the
//! PKCS#8 private key (what `fleetctl package --macos-devid-pem-content` takes). It stays in
//! memory; only the signed package is written.

use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use apple_xar::reader::XarReader;
use apple_xar::signing::XarSigner;
use url::Url;
use x509_certificate::{CapturedX509Certificate, InMemorySigningKeyPair, KeyAlgorithm, Sign};

/// Apple's time-stamp server, which `productsign` uses: notarization wants a secure timestamp.
pub const APPLE_TIMESTAMP_URL: &str = "http://timestamp.apple.com/ts01";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signing identity is not PEM: {0}")]
    Pem(String),
    #[error("the signing identity has no CERTIFICATE")]
    NoCertificate,
    #[error("the signing identity has no PKCS#8 PRIVATE KEY (an RSA PRIVATE KEY must be converted: openssl pkcs8 -topk8 -nocrypt)")]
    NoPrivateKey,
    #[error("the signing identity's {0} is unreadable: {1}")]
    Unreadable(&'static str, String),
    #[error("the signing key is not RSA (installer signatures are RSA)")]
    NotRsa,
    #[error("the signing key does not belong to the certificate {0:?}")]
    KeyMismatch(String),
    #[error("signing the package: {0}")]
    Sign(String),
    #[error("the signed package does not verify: {0}")]
    Verify(String),
}

pub struct SigningIdentity {
    key: InMemorySigningKeyPair,
    certificate: CapturedX509Certificate,
    /// Intermediates, sent with the signature so that Installer can build the chain.
    chain: Vec<CapturedX509Certificate>,
}

/// Shows who signs, never the key.
impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("subject", &self.subject())
            .finish_non_exhaustive()
    }
}

impl SigningIdentity {
    /// The first CERTIFICATE is the signer's, the others its chain; one PRIVATE KEY.
    pub fn from_pem(text: &str) -> Result<Self, SignError> {
        let blocks = pem::parse_many(text).map_err(|e| SignError::Pem(e.to_string()))?;
        let mut certificates = Vec::new();
        let mut key = None;
        for block in &blocks {
            match block.tag() {
                "CERTIFICATE" => certificates.push(
                    CapturedX509Certificate::from_der(block.contents())
                        .map_err(|e| SignError::Unreadable("certificate", e.to_string()))?,
                ),
                "PRIVATE KEY" => {
                    key = Some(
                        InMemorySigningKeyPair::from_pkcs8_der(block.contents())
                            .map_err(|e| SignError::Unreadable("private key", e.to_string()))?,
                    )
                }
                _ => {}
            }
        }
        let key = key.ok_or(SignError::NoPrivateKey)?;
        let mut certificates = certificates.into_iter();
        let certificate = certificates.next().ok_or(SignError::NoCertificate)?;
        if key.key_algorithm() != Some(KeyAlgorithm::Rsa) {
            return Err(SignError::NotRsa);
        }
        let identity = SigningIdentity {
            key,
            certificate,
            chain: certificates.collect(),
        };
        if identity.key.public_key_data() != identity.certificate.public_key_data() {
            return Err(SignError::KeyMismatch(identity.subject()));
        }
        Ok(identity)
    }

    /// The certificate's common name (for the build's log).
    pub fn subject(&self) -> String {
        self.certificate
            .subject_common_name()
            .unwrap_or_else(|| "(no common name)".into())
    }
}

/// Writes `input` signed by `identity` to `output` (a different path), then checks that what
/// was written verifies. `timestamp_url` is the RFC 3161 server asked to countersign.
pub fn sign(
    identity: &SigningIdentity,
    timestamp_url: Option<&Url>,
    input: &Path,
    output: &Path,
) -> Result<(), SignError> {
    let failed = |e: &dyn fmt::Display| SignError::Sign(e.to_string());
    let reader =
        XarReader::new(File::open(input).map_err(|e| failed(&e))?).map_err(|e| failed(&e))?;
    let mut out = BufWriter::new(File::create(output).map_err(|e| failed(&e))?);
    XarSigner::new(reader)
        .sign(
            &mut out,
            &identity.key,
            &identity.certificate,
            timestamp_url,
            identity.chain.iter().cloned(),
        )
        .map_err(|e| failed(&e))?;
    out.into_inner()
        .map_err(|e| failed(&e.into_error()))?
        .sync_all()
        .map_err(|e| failed(&e))?;
    let signer = verify(output)?;
    if signer.public_key_data() != identity.certificate.public_key_data() {
        return Err(SignError::Verify("signed by another certificate".into()));
    }
    Ok(())
}

/// Checks a signed package's TOC checksum and both signatures; returns the signer's certificate.
pub fn verify(path: &Path) -> Result<CapturedX509Certificate, SignError> {
    let bad = |e: &dyn fmt::Display| SignError::Verify(e.to_string());
    let mut reader = XarReader::new(File::open(path).map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    let checks = [
        (
            "table of contents checksum",
            reader.verify_table_of_contents_checksum(),
        ),
        ("RSA signature", reader.verify_rsa_checksum_signature()),
        ("CMS signature", reader.verify_cms_signature()),
    ];
    for (what, result) in checks {
        match result {
            Ok(true) => {}
            Ok(false) => return Err(SignError::Verify(format!("{what} is wrong or missing"))),
            Err(e) => return Err(SignError::Verify(format!("{what}: {e}"))),
        }
    }
    let (_, certificates) = reader
        .rsa_signature()
        .map_err(|e| bad(&e))?
        .ok_or_else(|| SignError::Verify("no RSA signature".into()))?;
    certificates
        .into_iter()
        .next()
        .ok_or_else(|| SignError::Verify("no certificate in the signature".into()))
}
