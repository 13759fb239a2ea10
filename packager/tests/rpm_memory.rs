//! The .rpm builder streams: a package holding a file larger than the memory a packager worker
//! may use (256 MB) is built with a small, bounded peak resident set. The only test in its own
//! binary, so that the process's peak (VmHWM) is this build's.

use packager::contents::Contents;
use packager::layout;
use packager::options::{PackageOptions, Targets};
use packager::rpm::{self, RpmMeta};
use std::process::Command;

const LIMIT_MB: u64 = 256;

/// The process's peak resident set so far, in MB.
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kb / 1024
}

#[test]
fn a_file_larger_than_the_memory_limit_is_packaged_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A sparse file: it takes no disk space, and reads as zeros.
    let osqueryd = dir.path().join("osqueryd");
    let size = (LIMIT_MB + 44) << 20;
    std::fs::File::create(&osqueryd)
        .and_then(|f| f.set_len(size))
        .expect("large file");
    let targets = Targets {
        version: "1.38.0".into(),
        orbit: b"#!/bin/sh\n".to_vec().into(),
        osqueryd: Contents::File(osqueryd),
        desktop: None,
        tuf_root: b"{}".to_vec(),
    };
    let layout = layout::linux(
        &PackageOptions::new("https://fleet.example.com", "secret"),
        &targets,
        "linux",
    );
    let meta = RpmMeta {
        name: "fleet-osquery".into(),
        version: "1.38.0".into(),
        architecture: "x86_64".into(),
        summary: "Fleet osquery".into(),
        license: "Apache-2.0".into(),
        source_date: 1_795_424_400,
    };
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let package = dir.path().join("large.rpm");
    rpm::build(&layout, &meta, &scratch, &package).expect("build");
    let peak = peak_rss_mb();
    assert!(
        peak < LIMIT_MB / 4,
        "peak RSS {peak} MB building a package of a {} MB file",
        size >> 20
    );

    // The package is whole: rpm checks its digests and lists the file at its full size.
    let digests = Command::new("rpm")
        .args(["-K", "--nosignature"])
        .arg(&package)
        .output()
        .expect("rpm -K");
    assert!(String::from_utf8_lossy(&digests.stdout).contains("digests OK"));
    let dump = Command::new("rpm")
        .args(["-qp", "--dump"])
        .arg(&package)
        .output()
        .expect("rpm -qp --dump");
    let dump = String::from_utf8_lossy(&dump.stdout);
    let line = dump
        .lines()
        .find(|l| l.starts_with("/opt/orbit/bin/osqueryd/linux/stable/osqueryd "))
        .unwrap_or_else(|| panic!("osqueryd in\n{dump}"));
    assert_eq!(line.split(' ').nth(1), Some(size.to_string().as_str()));
}
