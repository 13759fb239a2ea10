//! The .rpm builder, checked by the real `rpm` tools: the header (`rpm -qpi`), the file list
//! with modes, owners and symlinks (`rpm -qplv`), the digests (`rpm -K`), the scriptlets, and
//! the payload extracted with `rpm2cpio | cpio`.

mod common;

use common::{
    assert_installed_tree, full_options, listing_line, post_remove_deletes, run, targets,
};
use packager::layout;
use packager::rpm::{self, RpmMeta};
use std::process::Command;

#[test]
fn rpm_reads_what_the_builder_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = layout::linux(&full_options(), &targets(), "linux");
    let package = dir.path().join("fleet-osquery-1.38.0.x86_64.rpm");
    let meta = RpmMeta {
        name: "fleet-osquery".into(),
        version: "1.38.0".into(),
        architecture: "x86_64".into(),
        summary: "Fleet osquery (orbit, osqueryd)".into(),
        license: "https://github.com/fleetdm/fleet/blob/main/LICENSE".into(),
        source_date: 1_795_424_400,
    };
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
