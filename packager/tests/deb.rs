//! The .deb writer, checked by Debian's own `dpkg-deb`: metadata, the file list with owners,
//! modes and symlinks, extraction (the enroll secret and URL in `/etc/default/orbit`, the
//! binaries byte for byte), and the maintainer scripts.

mod common;

use common::{
    assert_installed_tree, full_options, listing_line, post_remove_deletes, run, targets,
};
use packager::deb::{self, DebMeta};
use packager::layout;
use packager::options::PackageOptions;
use std::path::{Path, PathBuf};

fn build(options: &PackageOptions, dir: &Path) -> PathBuf {
    let layout = layout::linux(options, &targets(), "linux");
    let package = dir.join("fleet-osquery_1.38.0_amd64.deb");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let meta = DebMeta {
        name: "fleet-osquery".into(),
        version: "1.38.0".into(),
        architecture: "amd64".into(),
        maintainer: "Flotilla <flotilla@localhost>".into(),
        description: "Fleet osquery (orbit, osqueryd)".into(),
        mtime: 1_795_424_400,
    };
    deb::build(&layout, &meta, &scratch, &package).expect("build");
    package
}

#[test]
fn dpkg_deb_reads_what_the_builder_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let package = build(&full_options(), dir.path());

    let info = run("dpkg-deb", &["--info"], Some(&package));
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
    let contents = run("dpkg-deb", &["--contents"], Some(&package));
    let line = |path: &str| listing_line(&contents, path);
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
    run(
        "dpkg-deb",
        &[
            "-x",
            &package.display().to_string(),
            &root.display().to_string(),
        ],
        None,
    );
    assert_installed_tree(&root, &targets());

    // The maintainer scripts: enable and start the service; on removal, delete everything,
    // but not on an upgrade.
    let control = dir.path().join("control");
    run(
        "dpkg-deb",
        &[
            "-e",
            &package.display().to_string(),
            &control.display().to_string(),
        ],
        None,
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("postinst");
    assert!(postinst.contains("systemctl enable orbit.service"));
    assert!(postinst.contains("systemctl restart orbit.service"));
    let prerm = std::fs::read_to_string(control.join("prerm")).expect("prerm");
    assert!(prerm.contains("systemctl stop orbit.service"));
    let postrm = std::fs::read_to_string(control.join("postrm")).expect("postrm");
    assert!(!post_remove_deletes(&postrm, "upgrade", dir.path()));
    assert!(post_remove_deletes(&postrm, "remove", dir.path()));
}

#[test]
fn the_same_inputs_build_the_same_package() {
    let options = PackageOptions::new("https://fleet.example.com", "secret");
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        std::fs::read(build(&options, one.path())).expect("a"),
        std::fs::read(build(&options, two.path())).expect("b"),
        "reproducible: same bytes"
    );
}
