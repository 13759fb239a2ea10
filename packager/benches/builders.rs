//! The package builders against Debian's and Red Hat's own tools, on the same tree with the
//! same compression (gzip -6), and every builder's peak memory on a 200 MB package.
//!
//!   cargo bench -p packager --bench builders
//!
//! Times are the best of three runs of the build alone (the tree the tools read is staged on
//! disk beforehand). Peak memory is measured in a child process (this binary, re-executed
//! with `--peak <deb|rpm|pkg|msi> <dir>`), which reports its own VmHWM. The .pkg's 200 MB are
//! osquery.app as the repository ships it (`osqueryd.app.tar.gz`, 100 MB) and that bundle
//! unpacked, both of which a .pkg installs.

use flate2::write::GzEncoder;
use packager::build::build;
use packager::contents::Contents;
use packager::deb::{self, DebMeta};
use packager::kind::PackageType;
use packager::layout::{self, Layout, Node};
use packager::options::{PackageOptions, Targets};
use packager::rpm::{self, RpmMeta};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TIMED_PAYLOAD_MB: u64 = 75;
const PEAK_PAYLOAD_MB: u64 = 200;
/// The macOS osqueryd inside the app archive: the archive and its unpacked copy make 200 MB.
const PEAK_APP_MB: u64 = PEAK_PAYLOAD_MB / 2;
const RUNS: usize = 3;
const SOURCE_DATE: u32 = 1_767_225_600;

/// `mb` MB of pseudo-random (incompressible) bytes in a file, written in 1 MB chunks.
fn random_file(path: &Path, mb: u64) -> PathBuf {
    let mut out = BufWriter::new(File::create(path).expect("create"));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..mb {
        for word in chunk.chunks_exact_mut(8) {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        out.write_all(&chunk).expect("write");
    }
    out.flush().expect("flush");
    path.to_path_buf()
}

/// `osqueryd.app.tar.gz` beside `osqueryd`, holding it as the bundle's executable.
fn osquery_app(osqueryd: &Path) -> PathBuf {
    let out = osqueryd.with_file_name("osqueryd.app.tar.gz");
    let gz = GzEncoder::new(
        File::create(&out).expect("archive"),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    tar.append_path_with_name(osqueryd, "osquery.app/Contents/MacOS/osqueryd")
        .expect("tar entry");
    let mut header = tar::Header::new_gnu();
    header.set_size(8);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(
        &mut header,
        "osquery.app/Contents/Info.plist",
        &b"<plist/>"[..],
    )
    .expect("tar entry");
    tar.into_inner().and_then(|gz| gz.finish()).expect("tar.gz");
    out
}

fn targets(osqueryd: PathBuf) -> Targets {
    Targets {
        version: "1.38.0".into(),
        orbit: b"#!/bin/sh\necho orbit 1.38.0\n".to_vec().into(),
        osqueryd: Contents::File(osqueryd),
        desktop: None,
        tuf_root: br#"{"signed":{"_type":"root"},"signatures":[]}"#.to_vec(),
    }
}

fn options() -> PackageOptions {
    PackageOptions::new("https://fleet.example.com", "c2VjcmV0LXNlY3JldA==")
}

fn deb_meta() -> DebMeta {
    DebMeta {
        name: "fleet-osquery".into(),
        version: "1.38.0".into(),
        architecture: "amd64".into(),
        maintainer: "Flotilla <flotilla@localhost>".into(),
        description: "Fleet osquery".into(),
        mtime: u64::from(SOURCE_DATE),
    }
}

fn rpm_meta() -> RpmMeta {
    RpmMeta {
        name: "fleet-osquery".into(),
        version: "1.38.0".into(),
        architecture: "x86_64".into(),
        summary: "Fleet osquery".into(),
        license: "Apache-2.0".into(),
        source_date: SOURCE_DATE,
    }
}

fn fresh_dir(path: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(path);
    std::fs::create_dir_all(path).expect("dir");
    path.to_path_buf()
}

/// Writes the layout's tree under `root`, with its modes and symlinks.
fn stage(layout: &Layout, root: &Path) {
    for entry in &layout.entries {
        let path = root.join(entry.path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        match &entry.node {
            Node::File { contents, mode } => {
                let mut out = File::create(&path).expect("file");
                std::io::copy(&mut contents.reader().expect("contents"), &mut out).expect("copy");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                    .expect("mode");
            }
            Node::Symlink { target } => std::os::unix::fs::symlink(target, &path).expect("link"),
        }
    }
}

/// The tree as `dpkg-deb --build` wants it: the files, and DEBIAN/ with what our builder puts
/// in control.tar (control, md5sums, maintainer scripts).
fn stage_deb(layout: &Layout, root: &Path) {
    stage(layout, root);
    let debian = root.join("DEBIAN");
    std::fs::create_dir_all(&debian).expect("DEBIAN");
    let mut installed = 0;
    let mut md5sums = String::new();
    for entry in &layout.entries {
        if let Node::File { contents, .. } = &entry.node {
            installed += contents.len().expect("len");
            let output = Command::new("md5sum")
                .arg(root.join(entry.path.trim_start_matches('/')))
                .output()
                .expect("md5sum");
            let sum = String::from_utf8_lossy(&output.stdout);
            let sum = sum.split_whitespace().next().expect("sum");
            writeln!(md5sums, "{sum}  {}", entry.path.trim_start_matches('/')).expect("fmt");
        }
    }
    let meta = deb_meta();
    let control = deb::control_file(&meta, installed.div_ceil(1024));
    for (name, text, mode) in [
        ("control", control.as_str(), 0o644),
        ("md5sums", md5sums.as_str(), 0o644),
        ("postinst", layout.scripts.post_install.as_str(), 0o755),
        ("prerm", layout.scripts.pre_remove.as_str(), 0o755),
        ("postrm", layout.scripts.post_remove.as_str(), 0o755),
    ] {
        let path = debian.join(name);
        std::fs::write(&path, text).expect("control file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
    }
}

/// A spec that packages the staged tree as it is (no %install step copying it, no cleanup,
/// no debuginfo, no brp scripts, no automatic dependencies), with a gzip -6 payload.
fn spec(layout: &Layout, topdir: &Path) -> String {
    let meta = rpm_meta();
    let mut files = String::new();
    for entry in &layout.entries {
        match &entry.node {
            Node::File { mode, .. } => {
                writeln!(files, "%attr({mode:o},root,root) {}", entry.path).expect("fmt")
            }
            Node::Symlink { .. } => writeln!(files, "{}", entry.path).expect("fmt"),
        }
    }
    format!(
        "%define _topdir {topdir}\n\
         %define _binary_payload w6.gzdio\n\
         %define _source_payload w6.gzdio\n\
         %define __os_install_post %{{nil}}\n\
         %define _build_id_links none\n\
         %define debug_package %{{nil}}\n\
         %define __spec_install_pre %{{___build_pre}}\n\
         Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {summary}\nLicense: {license}\n\
         AutoReqProv: no\n\
         %description\n{summary}\n\
         %install\n\
         %files\n%defattr(-,root,root,-)\n{files}\
         %post\n{post}\n%preun\n{preun}\n%postun\n{postun}\n",
        topdir = topdir.display(),
        name = meta.name,
        version = meta.version,
        summary = meta.summary,
        license = meta.license,
        post = layout.scripts.post_install,
        preun = layout.scripts.pre_remove,
        postun = layout.scripts.post_remove,
    )
}

fn best_of<F: FnMut()>(mut run: F) -> (Duration, Vec<Duration>) {
    let times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    (*times.iter().min().expect("runs"), times)
}

fn must(command: &mut Command) {
    let output = command.output().expect("tool runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).expect("package").len() as f64 / (1 << 20) as f64
}

/// The child: builds a package of the payload in `dir`, then prints its own peak RSS (MB).
fn peak(kind: &str, dir: &Path) {
    let linux = || layout::linux(&options(), &targets(dir.join("osqueryd")), "linux");
    let scratch = fresh_dir(&dir.join(format!("scratch-{kind}")));
    let out = dir.join(format!("peak.{kind}"));
    match kind {
        "deb" => deb::build(&linux(), &deb_meta(), &scratch, &out).expect("deb"),
        "rpm" => rpm::build(&linux(), &rpm_meta(), &scratch, &out).expect("rpm"),
        "pkg" => {
            let targets = targets(dir.join("osqueryd.app.tar.gz"));
            build(PackageType::Pkg, &options(), &targets, &scratch, &out).expect("pkg")
        }
        "msi" => {
            let targets = targets(dir.join("osqueryd"));
            build(PackageType::Msi, &options(), &targets, &scratch, &out).expect("msi")
        }
        other => panic!("unknown package type {other}"),
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    println!("{} {:.1}", kb / 1024, size_mb(&out));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--peak") {
        peak(&args[at + 1], Path::new(&args[at + 2]));
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();

    let osqueryd = random_file(&dir.join("osqueryd"), TIMED_PAYLOAD_MB);
    let layout = layout::linux(&options(), &targets(osqueryd), "linux");
    let deb_tree = dir.join("deb-tree");
    stage_deb(&layout, &deb_tree);
    let rpm_tree = dir.join("rpm-tree");
    stage(&layout, &rpm_tree);
    let topdir = fresh_dir(&dir.join("rpmbuild"));
    let spec_path = dir.join("fleet-osquery.spec");
    std::fs::write(&spec_path, spec(&layout, &topdir)).expect("spec");

    println!(
        "payload: {TIMED_PAYLOAD_MB} MB of random bytes (osqueryd) + the Linux layout's small \
         files; gzip -6 everywhere; best of {RUNS} runs\n"
    );

    let scratch = dir.join("scratch");
    let ours_deb = dir.join("ours.deb");
    let (deb_ours, deb_ours_all) = best_of(|| {
        fresh_dir(&scratch);
        deb::build(&layout, &deb_meta(), &scratch, &ours_deb).expect("deb");
    });
    let dpkg_out = dir.join("dpkg.deb");
    let (deb_tool, deb_tool_all) = best_of(|| {
        must(
            Command::new("dpkg-deb")
                .args(["-Zgzip", "-z6", "--root-owner-group", "--build"])
                .arg(&deb_tree)
                .arg(&dpkg_out),
        )
    });
    let ours_rpm = dir.join("ours.rpm");
    let (rpm_ours, rpm_ours_all) = best_of(|| {
        fresh_dir(&scratch);
        rpm::build(&layout, &rpm_meta(), &scratch, &ours_rpm).expect("rpm");
    });
    let rpms = topdir.join("RPMS");
    let (rpm_tool, rpm_tool_all) = best_of(|| {
        let _ = std::fs::remove_dir_all(&rpms);
        must(
            Command::new("rpmbuild")
                .args(["-bb", "--noclean", "--quiet", "--buildroot"])
                .arg(&rpm_tree)
                .arg(&spec_path),
        )
    });
    let rpmbuild_out = rpms.join("x86_64/fleet-osquery-1.38.0-1.x86_64.rpm");

    let secs = |d: Duration| d.as_secs_f64();
    let all = |runs: &[Duration]| {
        runs.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "{:<34} {:>8} {:>16} {:>9}",
        "build", "best s", "runs s", "size MB"
    );
    for (name, best, runs, out) in [
        ("packager deb", deb_ours, &deb_ours_all, &ours_deb),
        (
            "dpkg-deb -Zgzip -z6 --build",
            deb_tool,
            &deb_tool_all,
            &dpkg_out,
        ),
        ("packager rpm", rpm_ours, &rpm_ours_all, &ours_rpm),
        (
            "rpmbuild -bb (w6.gzdio)",
            rpm_tool,
            &rpm_tool_all,
            &rpmbuild_out,
        ),
    ] {
        println!(
            "{name:<34} {:>8.2} {:>16} {:>9.1}",
            secs(best),
            all(runs),
            size_mb(out)
        );
    }
    println!(
        "\nratio packager/dpkg-deb: {:.2}\nratio packager/rpmbuild: {:.2}",
        secs(deb_ours) / secs(deb_tool),
        secs(rpm_ours) / secs(rpm_tool)
    );

    // Peak memory on a 200 MB package, each builder in its own process.
    let peak_dir = fresh_dir(&dir.join("peak"));
    random_file(&peak_dir.join("osqueryd"), PEAK_PAYLOAD_MB);
    osquery_app(&random_file(&peak_dir.join("osqueryd-macos"), PEAK_APP_MB));
    let exe = std::env::current_exe().expect("current exe");
    println!("\npeak memory, {PEAK_PAYLOAD_MB} MB package (VmHWM of a child process):");
    for kind in ["deb", "rpm", "pkg", "msi"] {
        let start = Instant::now();
        let output = Command::new(&exe)
            .arg("--peak")
            .arg(kind)
            .arg(&peak_dir)
            .output()
            .expect("child");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report = String::from_utf8_lossy(&output.stdout);
        let mut fields = report.split_whitespace();
        let (rss, size) = (fields.next().expect("rss"), fields.next().expect("size"));
        println!(
            "  packager {kind}: {rss} MB peak RSS ({size} MB package, {:.1} s)",
            start.elapsed().as_secs_f64()
        );
    }
}
