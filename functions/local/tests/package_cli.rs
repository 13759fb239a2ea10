//! `flotilla-local package`, the real binary, against a real TUF repository on loopback: the
//! .deb it writes (checked with dpkg-deb), the target cache in the data dir across runs, and
//! a refused argument.

#[path = "../../../agent/tests/common/server.rs"]
#[allow(dead_code)]
mod server;
#[path = "../../../agent/tests/common/tuf.rs"]
#[allow(dead_code)]
mod tuf;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use server::FileServer;
use tuf::{in_days, tar_gz, Published, TufRepo};

const FLEET_URL: &str = "https://fleet.example.com";
const ORBIT: &str = "orbit/linux/stable/orbit";
const OSQUERYD: &str = "osqueryd/linux/stable/osqueryd";
const MAC_ORBIT: &str = "orbit/macos/stable/orbit";
const MAC_OSQUERYD: &str = "osqueryd/macos-app/stable/osqueryd.app.tar.gz";

struct Repository {
    repo: TufRepo,
    server: FileServer,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

async fn repository() -> Repository {
    let repo = TufRepo::new().await;
    let osqueryd: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let osquery_app = tar_gz(&[(
        "osquery.app/Contents/MacOS/osqueryd",
        b"osqueryd mach-o stand-in",
    )]);
    let targets = [
        Published {
            name: MAC_ORBIT,
            bytes: b"orbit for macos",
            version: Some("1.38.0"),
        },
        Published {
            name: MAC_OSQUERYD,
            bytes: &osquery_app,
            version: None,
        },
        Published {
            name: ORBIT,
            bytes: b"#!/bin/sh\necho orbit\n",
            version: Some("1.38.0"),
        },
        Published {
            name: OSQUERYD,
            bytes: &osqueryd,
            version: None,
        },
    ];
    repo.publish(1, &targets, in_days(7)).await;
    let server = FileServer::http(&repo.dir);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root.json");
    std::fs::write(&root, &repo.root_json).expect("write root.json");
    Repository {
        repo,
        server,
        root,
        _dir: dir,
    }
}

impl Repository {
    fn target_hits(&self) -> usize {
        [ORBIT, OSQUERYD]
            .iter()
            .map(|name| self.server.hits(&format!("targets/{name}")))
            .sum()
    }
}

/// `flotilla-local package --type <kind>` with `secret`, its cache in `data_dir`.
fn package_command(
    kind: &str,
    fleet_url: &str,
    secret: &str,
    update_url: &str,
    root: &Path,
    data_dir: &Path,
    out: &Path,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flotilla-local"));
    command
        .args(["package", "--type", kind, "--fleet-url", fleet_url])
        .args(["--enroll-secret", secret, "--update-url", update_url])
        .arg("--update-roots")
        .arg(root)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--out")
        .arg(out)
        .env_remove("ENROLL_SECRET");
    command
}

/// Runs `flotilla-local package --type deb` with `secret` (blocking: the repository is served
/// by the runtime's worker threads meanwhile).
fn package(
    fleet_url: &str,
    secret: &str,
    update_url: &str,
    root: &Path,
    data_dir: &Path,
    out: &Path,
) -> Output {
    package_command("deb", fleet_url, secret, update_url, root, data_dir, out)
        .output()
        .expect("flotilla-local runs")
}

/// Both streams, checked not to show the secret.
fn printed_without(output: &Output, secret: &str) -> String {
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !printed.contains(secret),
        "the secret was printed:\n{printed}"
    );
    printed
}

fn dpkg_deb(args: &[&OsStr]) -> String {
    let output = Command::new("dpkg-deb")
        .args(args)
        .output()
        .expect("dpkg-deb runs (tests/run installs it)");
    assert!(
        output.status.success(),
        "dpkg-deb {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Extracts `deb` into `into` and answers its `/etc/default/orbit`.
fn environment_file(deb: &Path, into: &Path) -> String {
    dpkg_deb(&["-x".as_ref(), deb.as_ref(), into.as_ref()]);
    std::fs::read_to_string(into.join("etc/default/orbit")).expect("etc/default/orbit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_a_deb_then_builds_again_from_the_cached_targets() {
    let repository = repository().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (data_dir, out) = (dir.path().join("data"), dir.path().join("out"));
    let first_secret = "cli-first-secret-5d1e";
    let output = package(
        FLEET_URL,
        first_secret,
        &repository.server.url,
        &repository.root,
        &data_dir,
        &out,
    );
    let printed = printed_without(&output, first_secret);
    assert!(output.status.success(), "{printed}");
    let deb = out.join("fleet-osquery_1.38.0_amd64.deb");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&deb.display().to_string()),
        "the installer's path is printed: {printed}"
    );
    assert!(printed.contains("downloaded and verified"), "{printed}");
    assert_eq!(
        repository.server.hits(&format!("targets/{OSQUERYD}")),
        1,
        "osqueryd fetched once"
    );

    let contents = dpkg_deb(&["--contents".as_ref(), deb.as_ref()]);
    let env_line = contents
        .lines()
        .find(|l| l.ends_with(" etc/default/orbit"))
        .unwrap_or_else(|| panic!("/etc/default/orbit in\n{contents}"));
    assert!(env_line.starts_with("-rw------- root/root"), "{env_line}");
    assert!(contents.contains(&format!(" opt/orbit/bin/{OSQUERYD}")));
    let env = environment_file(&deb, &dir.path().join("first"));
    for line in [
        format!("ORBIT_FLEET_URL={FLEET_URL}"),
        format!("ORBIT_ENROLL_SECRET={first_secret}"),
        format!("ORBIT_UPDATE_URL={}", repository.server.url),
    ] {
        assert!(env.lines().any(|l| l == line), "{line} in\n{env}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("first/opt/orbit/tuf-root.json")).expect("tuf-root.json"),
        repository.repo.root_json
    );

    // Another process, another secret: the targets come from the data dir's cache.
    let hits = repository.target_hits();
    let second_secret = "cli-second-secret-8b27";
    let output = package(
        FLEET_URL,
        second_secret,
        &repository.server.url,
        &repository.root,
        &data_dir,
        &out,
    );
    let printed = printed_without(&output, second_secret);
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("from the cache"), "{printed}");
    assert_eq!(repository.target_hits(), hits, "no target downloaded again");
    let env = environment_file(&deb, &dir.path().join("second"));
    assert!(
        env.lines()
            .any(|l| l == format!("ORBIT_ENROLL_SECRET={second_secret}")),
        "{env}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_argument_is_refused_by_name_and_writes_nothing() {
    let repository = repository().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let secret = "cli-refused-secret-03c9";
    let output = package(
        "ftp://fleet.example.com",
        secret,
        &repository.server.url,
        &repository.root,
        &dir.path().join("data"),
        &out,
    );
    let printed = printed_without(&output, secret);
    assert!(!output.status.success(), "{printed}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("fleet_url"),
        "the field is named: {printed}"
    );
    let written: Vec<_> = std::fs::read_dir(&out)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "{written:?}");
    assert_eq!(repository.target_hits(), 0);
}

/// A self-signed RSA identity in the shape `--macos-devid-pem` takes (certificate, then key).
fn identity(algorithm: &'static rcgen::SignatureAlgorithm) -> String {
    let key = rcgen::KeyPair::generate_for(algorithm).expect("key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "Developer ID Installer: Flotilla CLI Test (TEST123456)",
    );
    let certificate = params.self_signed(&key).expect("certificate");
    format!("{}{}", certificate.pem(), key.serialize_pem())
}

fn package_pkg(repository: &Repository, identity: &Path, dir: &Path) -> Output {
    package_command(
        "pkg",
        FLEET_URL,
        "cli-pkg-secret-77aa",
        &repository.server.url,
        &repository.root,
        &dir.join("data"),
        &dir.join("out"),
    )
    .arg("--macos-devid-pem")
    .arg(identity)
    // Offline: no time-stamp server.
    .args(["--timestamp-url", "none"])
    .output()
    .expect("flotilla-local runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkg_is_signed_with_the_identity_given() {
    let repository = repository().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = dir.path().join("identity.pem");
    std::fs::write(&pem, identity(&rcgen::PKCS_RSA_SHA256)).expect("identity");
    let output = package_pkg(&repository, &pem, dir.path());
    let printed = printed_without(&output, "PRIVATE KEY");
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("signed by"), "{printed}");
    let signer = packager::pkg::sign::verify(&dir.path().join("out/fleet-osquery.pkg"))
        .expect("the package verifies");
    assert_eq!(
        signer.subject_common_name().as_deref(),
        Some("Developer ID Installer: Flotilla CLI Test (TEST123456)")
    );

    // An identity that cannot sign an installer is refused before anything is built.
    std::fs::write(&pem, identity(&rcgen::PKCS_ECDSA_P256_SHA256)).expect("identity");
    let refused = dir.path().join("refused");
    let output = package_pkg(&repository, &pem, &refused);
    let printed = printed_without(&output, "PRIVATE KEY");
    assert!(!output.status.success(), "{printed}");
    assert!(printed.contains("--macos-devid-pem"), "{printed}");
    assert!(printed.contains("not RSA"), "{printed}");
    assert!(!refused.join("out").exists());
}
