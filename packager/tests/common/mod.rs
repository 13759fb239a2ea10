//! Inputs shared by the builders' tests: stand-in agent binaries and a package's options.
#![allow(dead_code)] // each test binary uses its own subset

use packager::options::{PackageOptions, Targets};
use std::path::Path;
use std::process::Command;

pub fn targets() -> Targets {
    Targets {
        version: "1.38.0".into(),
        orbit: b"#!/bin/sh\necho orbit 1.38.0\n".to_vec().into(),
        osqueryd: (0..200_000u32)
            .flat_map(|i| i.to_le_bytes())
            .collect::<Vec<u8>>()
            .into(),
        desktop: Some(b"desktop archive".to_vec().into()),
        tuf_root: br#"{"signed":{"_type":"root"},"signatures":[]}"#.to_vec(),
    }
}

/// Options touching every optional file: desktop, a server certificate, an mTLS identity.
pub fn full_options() -> PackageOptions {
    let mut options = PackageOptions::new("https://fleet.example.com", "c2VjcmV0LXNlY3JldA==");
    options.fleet_desktop = true;
    options.fleet_certificate =
        Some(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec());
    options.fleet_tls_client = Some((b"client cert".to_vec(), b"client key".to_vec()));
    options
}

/// Runs a checking tool, failing the test unless it succeeds; answers its output.
pub fn run(program: &str, args: &[&str], input: Option<&Path>) -> String {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(input) = input {
        command.arg(input);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (tests/run installs it): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What an installed tree must hold, whatever the format: the env file with the URL and
/// secret, the binaries byte for byte, the systemd unit.
pub fn assert_installed_tree(root: &Path, targets: &Targets) {
    let env = std::fs::read_to_string(root.join("etc/default/orbit")).expect("env file");
    for line in [
        "ORBIT_FLEET_URL=https://fleet.example.com",
        "ORBIT_ENROLL_SECRET=c2VjcmV0LXNlY3JldA==",
        "ORBIT_FLEET_DESKTOP=true",
        "ORBIT_ORBIT_CHANNEL=stable",
        "ORBIT_UPDATE_URL=https://tuf.fleetctl.com",
        "ORBIT_FLEET_CERTIFICATE=/opt/orbit/fleet.pem",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} in\n{env}");
    }
    assert_eq!(
        std::fs::read(root.join("opt/orbit/bin/osqueryd/linux/stable/osqueryd")).expect("osqueryd"),
        targets.osqueryd.to_vec().expect("osqueryd")
    );
    assert_eq!(
        std::fs::read(root.join("opt/orbit/bin/orbit/linux/stable/orbit")).expect("orbit"),
        targets.orbit.to_vec().expect("orbit")
    );
    assert_eq!(
        std::fs::read(root.join("opt/orbit/tuf-root.json")).expect("tuf root"),
        targets.tuf_root
    );
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/orbit.service")).expect("unit");
    for line in [
        "EnvironmentFile=/etc/default/orbit",
        "ExecStart=/opt/orbit/bin/orbit/orbit",
        "Restart=always",
        "RestartSec=1",
        "KillMode=control-group",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
}

/// Runs a post-removal script against a stand-in tree (its absolute paths rewritten), with
/// the package manager's argument; answers whether it deleted the agent's files.
pub fn post_remove_deletes(script: &str, argument: &str, scratch: &Path) -> bool {
    let fake_root = scratch.join(format!("fake-root-{argument}"));
    std::fs::create_dir_all(fake_root.join("opt/orbit")).expect("tree");
    let script = script.replace(" /", &format!(" {}/", fake_root.display()));
    let status = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("postrm")
        .arg(argument)
        .status()
        .expect("sh");
    assert!(status.success());
    !fake_root.join("opt/orbit").exists()
}

/// The line of a package listing (`dpkg-deb --contents`, `rpm -qplv`) that shows `path`.
pub fn listing_line(listing: &str, path: &str) -> String {
    listing
        .lines()
        .find(|l| l.ends_with(path) || l.contains(&format!("{path} -> ")))
        .unwrap_or_else(|| panic!("{path} not in\n{listing}"))
        .to_string()
}
