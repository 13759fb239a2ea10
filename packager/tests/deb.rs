//! The .deb writer, checked by Debian's own `dpkg-deb`: metadata, the file list with owners,
//! modes and symlinks, extraction (the enroll secret and URL in `/etc/default/orbit`, the
//! binaries byte for byte), and the maintainer scripts.

use packager::deb::{self, DebMeta};
use packager::layout;
use packager::options::{PackageOptions, Targets};
use std::path::Path;
use std::process::Command;

fn dpkg_deb(args: &[&str], package: &Path) -> String {
    let output = Command::new("dpkg-deb")
        .args(args)
        .arg(package)
        .output()
        .expect("dpkg-deb runs (package dpkg)");
    assert!(
        output.status.success(),
        "dpkg-deb {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn build(options: &PackageOptions, dir: &Path) -> (std::path::PathBuf, Targets) {
    let targets = Targets {
        version: "1.38.0".into(),
        orbit: b"#!/bin/sh\necho orbit 1.38.0\n".to_vec(),
        osqueryd: (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect(),
        tuf_root: br#"{"signed":{"_type":"root"},"signatures":[]}"#.to_vec(),
    };
    let layout = layout::linux(options, &targets, "linux");
    let package = dir.join("fleet-osquery_1.38.0_amd64.deb");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let meta = DebMeta {
        name: "fleet-osquery".into(),
        version: targets.version.clone(),
        architecture: "amd64".into(),
        maintainer: "Flotilla <flotilla@localhost>".into(),
        description: "Fleet osquery (orbit, osqueryd)".into(),
        mtime: 1_795_424_400,
    };
    deb::build(&layout, &meta, &scratch, &package).expect("build");
    (package, targets)
}

#[test]
fn dpkg_deb_reads_what_the_builder_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = PackageOptions::new("https://fleet.example.com", "c2VjcmV0LXNlY3JldA==");
    options.fleet_desktop = true;
    options.fleet_certificate =
        Some(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec());
    options.fleet_tls_client = Some((b"client cert".to_vec(), b"client key".to_vec()));
    let (package, targets) = build(&options, dir.path());

    let info = dpkg_deb(&["--info"], &package);
    for field in [
        "Package: fleet-osquery",
        "Version: 1.38.0",
        "Architecture: amd64",
        "postinst",
        "prerm",
        "postrm",
    ] {
        assert!(info.contains(field), "{field} in\n{info}");
    }

    // Owners, modes and symlinks as dpkg sees them.
    let contents = dpkg_deb(&["--contents"], &package);
    let line = |path: &str| {
        contents
            .lines()
            .find(|l| l.ends_with(path) || l.contains(&format!("{path} -> ")))
            .unwrap_or_else(|| panic!("{path} not in\n{contents}"))
            .to_string()
    };
    assert!(line("etc/default/orbit").starts_with("-rw------- root/root"));
    assert!(line("opt/orbit/bin/orbit/linux/stable/orbit").starts_with("-rwxr-xr-x root/root"));
    assert!(line("opt/orbit/bin/osqueryd/linux/stable/osqueryd").starts_with("-rwxr-xr-x"));
    assert!(line("opt/orbit/fleet_client.key").starts_with("-rw------- root/root"));
    assert!(line("usr/lib/systemd/system/orbit.service").starts_with("-rw-r--r--"));
    assert!(line("opt/orbit/bin/orbit/orbit")
        .ends_with("opt/orbit/bin/orbit/orbit -> linux/stable/orbit"));
    assert!(line("usr/local/bin/orbit").ends_with("-> /opt/orbit/bin/orbit/orbit"));
    assert!(line("opt/orbit/").starts_with("drwxr-xr-x root/root"));

    // Extracted, the files hold what they must.
    let root = dir.path().join("extracted");
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&package)
        .arg(&root)
        .status()
        .expect("dpkg-deb -x");
    assert!(out.success());
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
        targets.osqueryd
    );
    assert_eq!(
        std::fs::read(root.join("opt/orbit/bin/orbit/linux/stable/orbit")).expect("orbit"),
        targets.orbit
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

    // The maintainer scripts: enable and start the service; on removal, delete everything,
    // but not on an upgrade.
    let control = dir.path().join("control");
    let out = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&package)
        .arg(&control)
        .status()
        .expect("dpkg-deb -e");
    assert!(out.success());
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("postinst");
    assert!(postinst.contains("systemctl enable orbit.service"));
    assert!(postinst.contains("systemctl restart orbit.service"));
    let prerm = std::fs::read_to_string(control.join("prerm")).expect("prerm");
    assert!(prerm.contains("systemctl stop orbit.service"));
    let postrm = control.join("postrm");
    let fake_root = dir.path().join("fake-root");
    for (argument, removes) in [("upgrade", false), ("remove", true)] {
        // Run postrm against a stand-in tree by rewriting its absolute paths.
        std::fs::create_dir_all(fake_root.join("opt/orbit")).expect("tree");
        let script = std::fs::read_to_string(&postrm)
            .expect("postrm")
            .replace(" /", &format!(" {}/", fake_root.display()));
        let status = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .arg("postrm")
            .arg(argument)
            .status()
            .expect("sh");
        assert!(status.success());
        assert_eq!(
            !fake_root.join("opt/orbit").exists(),
            removes,
            "postrm {argument}"
        );
    }
}

#[test]
fn the_same_inputs_build_the_same_package() {
    let options = PackageOptions::new("https://fleet.example.com", "secret");
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    let (a, _) = build(&options, one.path());
    let (b, _) = build(&options, two.path());
    assert_eq!(
        std::fs::read(a).expect("a"),
        std::fs::read(b).expect("b"),
        "reproducible: same bytes"
    );
}
