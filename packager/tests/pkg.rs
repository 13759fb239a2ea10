//! The .pkg builder, checked by tools that did not write it: `7z` and `bsdtar` read the xar
//! archive, `gunzip | cpio` the payload and scripts, Python's `plistlib` and XML parser the
//! launch daemon, PackageInfo and Distribution, and `apple-bom` the bill of materials.

mod common;

use common::{full_options, listing_line, run};
use flate2::write::GzEncoder;
use flate2::Compression;
use packager::build::{build, BuildError};
use packager::contents::Contents;
use packager::kind::PackageType;
use packager::options::{PackageOptions, Targets};
use packager::pkg::sign::{sign, verify, SignError, SigningIdentity};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const OSQUERYD: &[u8] = b"\xcf\xfa\xed\xfe osqueryd mach-o stand-in";
const DESKTOP: &[u8] = b"\xcf\xfa\xed\xfe fleet-desktop stand-in";

/// A gzipped tar of `(path, mode, data)` files and `(path, target)` symlinks.
fn tar_gz(files: &[(&str, u32, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, *data).expect("tar file");
    }
    for (path, target) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o755);
        tar.append_link(&mut header, path, target)
            .expect("tar link");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

/// The macOS targets; osqueryd's archive is a file, as the worker downloads it to scratch.
fn mac_targets(dir: &Path) -> Targets {
    let osqueryd = dir.join("osqueryd.app.tar.gz");
    std::fs::write(
        &osqueryd,
        tar_gz(
            &[
                ("osquery.app/Contents/Info.plist", 0o644, b"<plist/>"),
                ("osquery.app/Contents/MacOS/osqueryd", 0o755, OSQUERYD),
                (
                    "osquery.app/Contents/Resources/osqueryctl",
                    0o755,
                    b"#!/bin/sh\n",
                ),
            ],
            &[("osquery.app/Contents/Current", "MacOS")],
        ),
    )
    .expect("osqueryd archive");
    Targets {
        version: "1.38.0".into(),
        orbit: b"\xcf\xfa\xed\xfe orbit 1.38.0".to_vec().into(),
        osqueryd: Contents::File(osqueryd),
        desktop: Some(
            tar_gz(
                &[(
                    "Fleet Desktop.app/Contents/MacOS/fleet-desktop",
                    0o755,
                    DESKTOP,
                )],
                &[],
            )
            .into(),
        ),
        tuf_root: br#"{"signed":{"_type":"root"},"signatures":[]}"#.to_vec(),
    }
}

fn build_pkg(options: &PackageOptions, targets: &Targets, dir: &Path) -> PathBuf {
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let package = dir.join("fleet-osquery.pkg");
    build(PackageType::Pkg, options, targets, &scratch, &package).expect("build");
    package
}

/// Runs `script` with sh in `dir`, failing the test unless it succeeds.
fn sh(script: &str, dir: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every regular file under `root` whose bytes contain `needle`, relative to `root`.
fn files_containing(root: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let kind = std::fs::symlink_metadata(&path)
                .expect("metadata")
                .file_type();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let data = std::fs::read(&path).expect("read");
                if data.windows(needle.len()).any(|w| w == needle) {
                    let relative = path.strip_prefix(root).expect("under root");
                    found.push(relative.display().to_string());
                }
            }
        }
    }
    found
}

const PYTHON_PLIST: &str = r#"
import plistlib, sys
with open(sys.argv[1], "rb") as f:
    plist = plistlib.load(f)
for key, value in sorted(plist.items()):
    if key == "EnvironmentVariables":
        for name, setting in sorted(value.items()):
            print(f"env {name}={setting}")
    else:
        print(f"{key}={value}")
"#;

const PYTHON_XML: &str = r#"
import sys, xml.etree.ElementTree as ET
info = ET.parse(sys.argv[1]).getroot()
payload = info.find("payload")
post = info.find("scripts/postinstall")
print(info.tag, info.get("identifier"), info.get("version"), info.get("install-location"))
print("payload", payload.get("numberOfFiles"), payload.get("installKBytes"))
print("postinstall", post.get("file"))
dist = ET.parse(sys.argv[2]).getroot()
print(dist.tag, dist.find("title").text)
for ref in dist.iter("pkg-ref"):
    if ref.text:
        print("pkg-ref", ref.get("id"), ref.get("version"), ref.text)
"#;

#[test]
fn xar_cpio_and_bom_readers_read_what_the_builder_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = full_options();
    options.fleet_url = "https://fleet.example.com/?a=1&b=2".into();
    options.update_tls_client = Some((b"update cert".to_vec(), b"update key".to_vec()));
    let targets = mac_targets(dir.path());
    let package = build_pkg(&options, &targets, dir.path());

    // The flat package: Distribution and the component, as 7z and bsdtar read the xar.
    let listing = run("7z", &["l", "-slt"], Some(&package));
    let members: BTreeSet<&str> = listing
        .lines()
        .filter_map(|l| l.strip_prefix("Path = "))
        .collect();
    for member in [
        "Distribution",
        "base.pkg",
        "base.pkg/Bom",
        "base.pkg/PackageInfo",
        "base.pkg/Payload",
        "base.pkg/Scripts",
    ] {
        assert!(members.contains(member), "{member} in {members:?}");
    }
    let bsdtar = run("bsdtar", &["-tf"], Some(&package));
    assert!(bsdtar.lines().any(|l| l == "base.pkg/Payload"), "{bsdtar}");
    let flat = dir.path().join("flat");
    run(
        "7z",
        &["x", "-y", &format!("-o{}", flat.display())],
        Some(&package),
    );
    // bsdtar checks the TOC's and the members' checksums while extracting.
    let flat_bsdtar = dir.path().join("flat-bsdtar");
    std::fs::create_dir_all(&flat_bsdtar).expect("dir");
    sh(&format!("bsdtar -xf '{}'", package.display()), &flat_bsdtar);
    // ... and refuses a member whose bytes no longer match the TOC's checksum.
    let mut corrupt = std::fs::read(&package).expect("package");
    if let Some(last) = corrupt.last_mut() {
        *last ^= 0xff;
    }
    let corrupt_path = dir.path().join("corrupt.pkg");
    std::fs::write(&corrupt_path, corrupt).expect("corrupt copy");
    let corrupt_out = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt_out).expect("dir");
    let status = Command::new("bsdtar")
        .arg("-xf")
        .arg(&corrupt_path)
        .current_dir(&corrupt_out)
        .output()
        .expect("bsdtar");
    assert!(!status.status.success(), "a corrupt member is refused");
    for member in ["Distribution", "base.pkg/Payload", "base.pkg/Bom"] {
        assert_eq!(
            std::fs::read(flat.join(member)).expect("7z member"),
            std::fs::read(flat_bsdtar.join(member)).expect("bsdtar member"),
            "{member}: same bytes through 7z and bsdtar"
        );
    }

    // The payload: owners, modes and symlinks as GNU cpio lists them.
    let component = flat.join("base.pkg");
    let payload_listing = sh("gunzip -c Payload | cpio -itv --quiet", &component);
    let line = |path: &str| listing_line(&payload_listing, path);
    assert!(line("./opt/orbit/secret.txt").starts_with("-rw-------   1 root     root"));
    assert!(line("./opt/orbit/fleet_client.key").starts_with("-rw-------   1 root     root"));
    assert!(line("./opt/orbit/update_client.key").starts_with("-rw-------"));
    assert!(line("./opt/orbit/update_client.crt").starts_with("-rw-r--r--"));
    assert!(line("./opt/orbit/bin/orbit/macos/stable/orbit").starts_with("-rwxr-xr-x   1 root"));
    assert!(line("./opt/orbit/bin/orbit/orbit")
        .ends_with("./opt/orbit/bin/orbit/orbit -> /opt/orbit/bin/orbit/macos/stable/orbit"));
    assert!(line("./Library/LaunchDaemons/com.fleetdm.orbit.plist").starts_with("-rw-r--r--"));
    assert!(
        line("./opt/orbit/bin/osqueryd/macos-app/stable/osquery.app/Contents/MacOS/osqueryd")
            .starts_with("-rwxr-xr-x")
    );
    assert!(
        line("./opt/orbit/bin/osqueryd/macos-app/stable/osquery.app/Contents/Current")
            .ends_with("Current -> MacOS")
    );
    assert!(
        line("./opt/orbit/bin/osqueryd/macos-app/stable/osqueryd.app.tar.gz")
            .starts_with("-rw-r--r--")
    );
    assert!(line(
        "./opt/orbit/bin/desktop/macos/stable/Fleet Desktop.app/Contents/MacOS/fleet-desktop"
    )
    .starts_with("-rwxr-xr-x"));
    assert!(line("./opt/orbit").starts_with("drwxr-xr-x   2 root     root"));
    let payload_paths: BTreeSet<String> = payload_listing
        .lines()
        .map(|l| {
            let path = &l[l.find(" ./").map_or(l.len() - 1, |i| i + 1)..];
            path.split(" -> ").next().unwrap_or(path).to_string()
        })
        .collect();
    assert!(
        payload_paths.contains("./Library/LaunchDaemons"),
        "directories are listed"
    );

    // Extracted, the files hold what they must; the secret only in secret.txt.
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    sh(
        &format!(
            "gunzip -c '{}' | cpio -idm --quiet --no-absolute-filenames",
            component.join("Payload").display()
        ),
        &root,
    );
    let opt = root.join("opt/orbit");
    assert_eq!(
        std::fs::read(opt.join("secret.txt")).expect("secret"),
        options.enroll_secret.as_bytes()
    );
    assert_eq!(
        files_containing(&root, options.enroll_secret.as_bytes()),
        vec!["opt/orbit/secret.txt".to_string()]
    );
    assert_eq!(
        std::fs::read(opt.join("bin/orbit/macos/stable/orbit")).expect("orbit"),
        targets.orbit.to_vec().expect("orbit")
    );
    let osquery_dir = opt.join("bin/osqueryd/macos-app/stable");
    assert_eq!(
        std::fs::read(osquery_dir.join("osqueryd.app.tar.gz")).expect("archive"),
        targets.osqueryd.to_vec().expect("archive")
    );
    assert_eq!(
        std::fs::read(osquery_dir.join("osquery.app/Contents/MacOS/osqueryd")).expect("osqueryd"),
        OSQUERYD
    );
    assert_eq!(
        std::fs::read(
            opt.join("bin/desktop/macos/stable/Fleet Desktop.app/Contents/MacOS/fleet-desktop")
        )
        .expect("desktop"),
        DESKTOP
    );
    assert_eq!(
        std::fs::read(opt.join("tuf-root.json")).expect("tuf root"),
        targets.tuf_root
    );
    assert_eq!(
        std::fs::read(opt.join("fleet.pem")).expect("fleet.pem"),
        options.fleet_certificate.clone().expect("pem")
    );

    // The launch daemon, parsed by a real plist reader.
    let plist_path = root.join("Library/LaunchDaemons/com.fleetdm.orbit.plist");
    let plist = run(
        "python3",
        &["-c", PYTHON_PLIST, &plist_path.display().to_string()],
        None,
    );
    for line in [
        "Label=com.fleetdm.orbit",
        "ProgramArguments=['/opt/orbit/bin/orbit/orbit']",
        "RunAtLoad=True",
        "KeepAlive=True",
        "StandardErrorPath=/var/log/orbit/orbit.stderr.log",
        "env ORBIT_ENROLL_SECRET_PATH=/opt/orbit/secret.txt",
        "env ORBIT_FLEET_URL=https://fleet.example.com/?a=1&b=2",
        "env ORBIT_UPDATE_URL=https://tuf.fleetctl.com",
        "env ORBIT_ORBIT_CHANNEL=stable",
        "env ORBIT_FLEET_DESKTOP=true",
        "env ORBIT_FLEET_CERTIFICATE=/opt/orbit/fleet.pem",
    ] {
        assert!(plist.lines().any(|l| l == line), "{line} in\n{plist}");
    }
    assert!(!plist.contains("ORBIT_ENROLL_SECRET="), "{plist}");

    // PackageInfo and Distribution, parsed as XML.
    let documents = run(
        "python3",
        &[
            "-c",
            PYTHON_XML,
            &component.join("PackageInfo").display().to_string(),
            &flat.join("Distribution").display().to_string(),
        ],
        None,
    );
    let entries = payload_listing.lines().count();
    for line in [
        "pkg-info com.fleetdm.orbit.base.pkg 1.38.0 /".to_string(),
        format!("payload {entries} "),
        "postinstall ./postinstall".to_string(),
        "installer-gui-script Fleet osquery".to_string(),
        "pkg-ref com.fleetdm.orbit.base.pkg 1.38.0 #base.pkg".to_string(),
    ] {
        assert!(
            documents.lines().any(|l| l.starts_with(&line)),
            "{line} in\n{documents}"
        );
    }

    // The scripts archive: an executable postinstall that (re)loads the daemon.
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).expect("scripts");
    let scripts_listing = sh(
        &format!(
            "gunzip -c '{}' | cpio -itv --quiet",
            component.join("Scripts").display()
        ),
        &scripts,
    );
    assert!(listing_line(&scripts_listing, "./postinstall").starts_with("-rwxr-xr-x   1 root"));
    sh(
        &format!(
            "gunzip -c '{}' | cpio -idm --quiet --no-absolute-filenames",
            component.join("Scripts").display()
        ),
        &scripts,
    );
    let postinstall = std::fs::read_to_string(scripts.join("postinstall")).expect("postinstall");
    assert!(postinstall.contains("launchctl bootstrap system \"${DAEMON_PLIST}\""));
    assert!(postinstall.contains("DAEMON_PLIST=\"/Library/LaunchDaemons/com.fleetdm.orbit.plist\""));
    sh(
        &format!("sh -n '{}'", scripts.join("postinstall").display()),
        &scripts,
    );

    // The bill of materials lists exactly the payload's paths, with their modes.
    let bom = std::fs::read(component.join("Bom")).expect("bom");
    let parsed = apple_bom::ParsedBom::parse(&bom).expect("bom parses");
    let bom_paths = parsed.paths().expect("bom paths");
    let listed: BTreeSet<String> = bom_paths.iter().map(|p| p.path().to_string()).collect();
    assert_eq!(listed, payload_paths);
    let mode = |path: &str| {
        bom_paths
            .iter()
            .find(|p| p.path() == path)
            .unwrap_or_else(|| panic!("{path} in the bom"))
            .symbolic_mode()
    };
    assert_eq!(mode("./opt/orbit/secret.txt"), "-rw-------");
    assert_eq!(
        mode("./opt/orbit/bin/orbit/macos/stable/orbit"),
        "-rwxr-xr-x"
    );
    assert_eq!(mode("./opt/orbit"), "drwxr-xr-x");
    let link = bom_paths
        .iter()
        .find(|p| p.path() == "./opt/orbit/bin/orbit/orbit")
        .expect("symlink in the bom");
    assert_eq!(
        link.link_name(),
        Some("/opt/orbit/bin/orbit/macos/stable/orbit")
    );
    assert!(bom_paths
        .iter()
        .all(|p| p.user_id() == 0 && p.group_id() == 0));
}

#[test]
fn without_the_service_there_is_no_launch_daemon_and_postinstall_does_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = PackageOptions::new("https://fleet.example.com", "secret-value");
    options.service = false;
    let package = build_pkg(&options, &mac_targets(dir.path()), dir.path());
    let flat = dir.path().join("flat");
    run(
        "7z",
        &["x", "-y", &format!("-o{}", flat.display())],
        Some(&package),
    );
    let component = flat.join("base.pkg");
    let listing = sh("gunzip -c Payload | cpio -it --quiet", &component);
    assert!(!listing.contains("LaunchDaemons"), "{listing}");
    assert!(
        !listing.contains("desktop"),
        "no desktop unless asked: {listing}"
    );
    assert!(listing.lines().any(|l| l == "./opt/orbit/secret.txt"));
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).expect("scripts");
    sh(
        &format!(
            "gunzip -c '{}' | cpio -idm --quiet",
            component.join("Scripts").display()
        ),
        &scripts,
    );
    let postinstall = std::fs::read_to_string(scripts.join("postinstall")).expect("postinstall");
    assert!(!postinstall.contains("launchctl"), "{postinstall}");
}

#[test]
fn the_same_inputs_build_the_same_package() {
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    let options = full_options();
    assert_eq!(
        std::fs::read(build_pkg(&options, &mac_targets(one.path()), one.path())).expect("a"),
        std::fs::read(build_pkg(&options, &mac_targets(two.path()), two.path())).expect("b"),
        "reproducible: same bytes"
    );
}

#[test]
fn an_app_archive_escaping_its_directory_is_refused() {
    for (bad_path, what) in [
        ("../../../../Library/LaunchDaemons/evil.plist", "`..`"),
        ("/Library/LaunchDaemons/evil.plist", "absolute"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut targets = mac_targets(dir.path());
        // tar::Builder refuses such names: write the header's name bytes directly.
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..bad_path.len()].copy_from_slice(bad_path.as_bytes());
        header.set_size(4);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        tar.append(&header, &b"evil"[..]).expect("append");
        targets.osqueryd = tar
            .into_inner()
            .expect("tar")
            .finish()
            .expect("gzip")
            .into();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).expect("scratch");
        let package = dir.path().join("fleet-osquery.pkg");
        let error = build(
            PackageType::Pkg,
            &full_options(),
            &targets,
            &scratch,
            &package,
        )
        .expect_err(what);
        assert!(matches!(error, BuildError::Unpack(_)), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("osqueryd.app.tar.gz") && message.contains("refused"),
            "{message}"
        );
        assert!(!package.exists(), "no package is written");
        let unpacked = std::fs::read_dir(scratch.join("osqueryd.app.tar.gz"))
            .expect("unpack dir")
            .count();
        assert_eq!(unpacked, 0, "nothing of the archive is written");
    }
}

/// A self-signed RSA "Developer ID Installer" identity as PEM (certificate, then PKCS#8 key),
/// the shape `--macos-devid-pem-content` takes.
pub fn test_identity(algorithm: &'static rcgen::SignatureAlgorithm) -> String {
    let key = rcgen::KeyPair::generate_for(algorithm).expect("key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "Developer ID Installer: Flotilla Test (TEST123456)",
    );
    let certificate = params.self_signed(&key).expect("certificate");
    format!("{}{}", certificate.pem(), key.serialize_pem())
}

#[test]
fn a_signed_package_verifies_and_still_reads_as_a_flat_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = mac_targets(dir.path());
    let package = build_pkg(&full_options(), &targets, dir.path());
    let identity =
        SigningIdentity::from_pem(&test_identity(&rcgen::PKCS_RSA_SHA256)).expect("identity");
    assert!(
        format!("{identity:?}").contains("Flotilla Test"),
        "{identity:?}"
    );
    assert!(!format!("{identity:?}").contains("PRIVATE"), "{identity:?}");

    // Unsigned, it does not verify.
    assert!(matches!(verify(&package), Err(SignError::Verify(_))));

    let signed = dir.path().join("signed.pkg");
    sign(&identity, None, &package, &signed).expect("sign");
    let signer = verify(&signed).expect("verifies");
    assert_eq!(
        signer.subject_common_name().as_deref(),
        Some("Developer ID Installer: Flotilla Test (TEST123456)")
    );

    // The members are unchanged: bsdtar extracts the signed package, checking every checksum,
    // and its Payload is the unsigned one's.
    let out = dir.path().join("signed-out");
    std::fs::create_dir_all(&out).expect("dir");
    sh(&format!("bsdtar -xf '{}'", signed.display()), &out);
    let unsigned_out = dir.path().join("unsigned-out");
    std::fs::create_dir_all(&unsigned_out).expect("dir");
    sh(
        &format!("bsdtar -xf '{}'", package.display()),
        &unsigned_out,
    );
    for member in [
        "Distribution",
        "base.pkg/Payload",
        "base.pkg/Scripts",
        "base.pkg/Bom",
    ] {
        assert_eq!(
            std::fs::read(out.join(member)).expect("signed member"),
            std::fs::read(unsigned_out.join(member)).expect("unsigned member"),
            "{member}"
        );
    }
    let listing = run("7z", &["l"], Some(&signed));
    assert!(listing.contains("base.pkg/Payload"), "{listing}");

    // A changed byte in the signed table of contents breaks the checksum the signatures cover.
    let mut tampered = std::fs::read(&signed).expect("signed");
    tampered[40] ^= 0x01;
    let tampered_path = dir.path().join("tampered.pkg");
    std::fs::write(&tampered_path, tampered).expect("write");
    assert!(verify(&tampered_path).is_err());
}

#[test]
fn unusable_signing_identities_are_refused_with_the_reason() {
    let rsa = test_identity(&rcgen::PKCS_RSA_SHA256);
    let (certificate, key) = rsa.split_at(rsa.find("-----BEGIN PRIVATE KEY").expect("key"));
    assert!(matches!(
        SigningIdentity::from_pem(certificate),
        Err(SignError::NoPrivateKey)
    ));
    assert!(matches!(
        SigningIdentity::from_pem(key),
        Err(SignError::NoCertificate)
    ));
    let other = test_identity(&rcgen::PKCS_RSA_SHA256);
    let other_key = &other[other.find("-----BEGIN PRIVATE KEY").expect("key")..];
    assert!(matches!(
        SigningIdentity::from_pem(&format!("{certificate}{other_key}")),
        Err(SignError::KeyMismatch(subject)) if subject.contains("Flotilla Test")
    ));
    assert!(matches!(
        SigningIdentity::from_pem(&test_identity(&rcgen::PKCS_ECDSA_P256_SHA256)),
        Err(SignError::NotRsa)
    ));
    assert!(matches!(
        SigningIdentity::from_pem("not pem at all"),
        Err(SignError::NoPrivateKey | SignError::Pem(_))
    ));
}
