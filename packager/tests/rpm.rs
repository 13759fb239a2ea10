//! The .rpm builder, checked by the real `rpm` tools: the header (`rpm -qpi`), the file list
//! with modes, owners and symlinks (`rpm -qplv`), the digests (`rpm -K`), the scriptlets, and
//! the payload extracted with `rpm2cpio | cpio`.

mod common;

use common::{
    assert_installed_tree, full_options, listing_line, post_remove_deletes, run, targets,
};
use packager::layout;
use packager::rpm::{self, RpmMeta};
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn rpm_reads_what_the_builder_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = layout::linux(&full_options(), &targets(), "linux");
    let package = dir.path().join("fleet-osquery-1.38.0.x86_64.rpm");
    let meta = meta();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    rpm::build(&layout, &meta, &scratch, &package).expect("build");

    let info = run("rpm", &["-qpi"], Some(&package));
    for field in ["fleet-osquery", "1.38.0", "x86_64"] {
        assert!(info.contains(field), "{field} in\n{info}");
    }
    let digests = run("rpm", &["-K", "--nosignature"], Some(&package));
    assert!(digests.contains("digests OK"), "{digests}");

    let listing = run("rpm", &["-qplv"], Some(&package));
    let line = |path: &str| listing_line(&listing, path);
    assert!(line("/etc/default/orbit").starts_with("-rw-------"));
    assert!(line("/etc/default/orbit").contains("root     root"));
    assert!(line("/opt/orbit/bin/orbit/linux/stable/orbit").starts_with("-rwxr-xr-x"));
    assert!(line("/opt/orbit/fleet_client.key").starts_with("-rw-------"));
    assert!(line("/usr/local/bin/orbit")
        .ends_with("/usr/local/bin/orbit -> /opt/orbit/bin/orbit/orbit"));

    let scripts = run("rpm", &["-qp", "--scripts"], Some(&package));
    assert!(scripts.contains("postinstall scriptlet"), "{scripts}");
    assert!(scripts.contains("systemctl enable orbit.service"));
    assert!(scripts.contains("preuninstall scriptlet"));
    assert!(scripts.contains("postuninstall scriptlet"));
    // rpm passes the number of versions left: 1 on an upgrade, 0 on removal.
    assert!(!post_remove_deletes(
        &layout.scripts.post_remove,
        "1",
        dir.path()
    ));
    assert!(post_remove_deletes(
        &layout.scripts.post_remove,
        "0",
        dir.path()
    ));

    let root = dir.path().join("extracted");
    std::fs::create_dir_all(&root).expect("root");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "rpm2cpio '{}' | cpio -idm --quiet --no-absolute-filenames",
            package.display()
        ))
        .current_dir(&root)
        .status()
        .expect("rpm2cpio | cpio");
    assert!(status.success());
    assert_installed_tree(&root, &targets());
}

fn meta() -> RpmMeta {
    RpmMeta {
        name: "fleet-osquery".into(),
        version: "1.38.0".into(),
        architecture: "x86_64".into(),
        summary: "Fleet osquery (orbit, osqueryd)".into(),
        license: "https://github.com/fleetdm/fleet/blob/main/LICENSE".into(),
        source_date: 1_795_424_400,
    }
}

/// Builds the full layout's package in `dir`.
fn build(dir: &Path) -> PathBuf {
    let layout = layout::linux(&full_options(), &targets(), "linux");
    let package = dir.join("fleet-osquery-1.38.0.x86_64.rpm");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    rpm::build(&layout, &meta(), &scratch, &package).expect("build");
    package
}

#[test]
fn rpm_checks_every_digest_and_notices_a_changed_payload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let package = build(dir.path());
    // Header SHA-1 and SHA-256, payload SHA-256, and the legacy MD5 of header and payload.
    let digests = run("rpm", &["-Kv", "--nosignature"], Some(&package));
    for check in [
        "Header SHA256 digest: OK",
        "Header SHA1 digest: OK",
        "Payload SHA256 digest: OK",
        "MD5 digest: OK",
    ] {
        assert!(digests.contains(check), "{check} in\n{digests}");
    }

    // One byte of the payload changed (its last: the gzip trailer's size): rpm -K fails.
    let mut bytes = std::fs::read(&package).expect("package");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let tampered = dir.path().join("tampered.rpm");
    std::fs::write(&tampered, bytes).expect("tampered");
    let output = Command::new("rpm")
        .args(["-Kv", "--nosignature"])
        .arg(&tampered)
        .output()
        .expect("rpm -K");
    assert!(!output.status.success());
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("Payload SHA256 digest: BAD"), "{report}");
    assert!(report.contains("MD5 digest: BAD"), "{report}");
}

#[test]
fn the_same_inputs_build_the_same_package() {
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        std::fs::read(build(one.path())).expect("one"),
        std::fs::read(build(two.path())).expect("two"),
        "reproducible: same bytes"
    );
}

#[test]
fn rpm_installs_verifies_and_removes_the_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    let package = build(dir.path());
    let root = dir.path().join("root");
    let dbpath = dir.path().join("root/var/lib/rpm");
    std::fs::create_dir_all(&dbpath).expect("dbpath");
    let (root, dbpath) = (root.display().to_string(), dbpath.display().to_string());
    let rpm_in_root = |args: &[&str], input: Option<&Path>| {
        let mut all = vec!["--root", &root, "--dbpath", &dbpath];
        all.extend_from_slice(args);
        run("rpm", &all, input)
    };

    // Scriptlets would run systemctl in the new root: not here.
    rpm_in_root(&["-i", "--nodeps", "--noscripts"], Some(&package));
    assert_installed_tree(Path::new(&root), &targets());
    let target = std::fs::read_link(Path::new(&root).join("opt/orbit/bin/orbit/orbit"));
    assert_eq!(target.expect("symlink"), Path::new("linux/stable/orbit"));
    // Sizes, digests, modes, owners and link targets on disk match the header.
    rpm_in_root(&["-V", "--nodeps", "fleet-osquery"], None);
    // ... and rpm -V notices a file that does not.
    let tuf_root = Path::new(&root).join("opt/orbit/tuf-root.json");
    std::fs::write(&tuf_root, b"{}").expect("change a file");
    let verify = Command::new("rpm")
        .args(["--root", &root, "--dbpath", &dbpath, "-V", "--nodeps"])
        .arg("fleet-osquery")
        .output()
        .expect("rpm -V");
    assert!(!verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("/opt/orbit/tuf-root.json"));
    let info = rpm_in_root(&["-qi", "fleet-osquery"], None);
    assert!(info.contains("Version     : 1.38.0"), "{info}");

    rpm_in_root(&["-e", "--nodeps", "--noscripts", "fleet-osquery"], None);
    let osqueryd = Path::new(&root).join("opt/orbit/bin/osqueryd/linux/stable/osqueryd");
    assert!(!osqueryd.exists(), "rpm -e removes the files it installed");
    assert!(!Path::new(&root).join("etc/default/orbit").exists());
}
