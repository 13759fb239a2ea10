//! Real parts for the agent's integration tests: TUF repositories signed with tough, a static
//! file server over HTTP or rustls HTTPS (optionally demanding a client certificate), and an
//! rcgen PKI. Each test binary uses a different subset.
#![allow(dead_code)]

pub mod pki;
pub mod server;
pub mod tuf;

use sha2::{Digest, Sha256};
use std::path::Path;

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// A stand-in osqueryd/orbit: a shell script answering `--version` (and anything else) with
/// its version.
pub fn script(name: &str, version: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho \"{name} version {version}\"\n").into_bytes()
}

/// Runs `path --version` and returns its output, retrying while another test's fork still holds
/// the freshly written file open (ETXTBSY).
pub fn run_version(path: &Path) -> String {
    for _ in 0..40 {
        match std::process::Command::new(path).arg("--version").output() {
            Ok(output) => {
                assert!(
                    output.status.success(),
                    "{} --version failed",
                    path.display()
                );
                return String::from_utf8_lossy(&output.stdout).trim().to_owned();
            }
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(e) => panic!("cannot run {}: {e}", path.display()),
        }
    }
    panic!("{} stayed busy", path.display());
}

/// The file at `path` holds exactly `expected`.
pub fn assert_file(path: &Path, expected: &[u8]) {
    let actual =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(
        hex::encode(sha256(&actual)),
        hex::encode(sha256(expected)),
        "{} does not hold the expected bytes",
        path.display()
    );
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// One update of osqueryd on "stable" installs exactly `expected` at `path`.
pub async fn installs(updater: &mut agent::updates::Updater, path: &Path, expected: &[u8]) {
    let outcome = updater
        .update(agent::updates::Component::Osqueryd, "stable")
        .await;
    assert!(
        matches!(outcome, agent::updates::UpdateOutcome::Installed { .. }),
        "{outcome:?}"
    );
    assert_file(path, expected);
}
