//! The .msi writer, checked by msitools (msiinfo, msiextract): summary information, the
//! tables Windows Installer reads (files, directories, components, the orbit service and its
//! arguments, properties, the embedded cabinet), extraction under `Program Files/Orbit`
//! (the secret in secret.txt, the binaries byte for byte), and the secret nowhere else.

mod common;

use common::{full_options, run, targets};
use packager::build::build;
use packager::kind::PackageType;
use packager::options::PackageOptions;
use std::path::{Path, PathBuf};

fn build_msi(options: &PackageOptions, dir: &Path) -> PathBuf {
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let package = dir.join("fleet-osquery.msi");
    build(PackageType::Msi, options, &targets(), &scratch, &package).expect("build");
    package
}

fn msiinfo(args: &[&str], package: &Path) -> String {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.insert(1, package.display().to_string());
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run("msiinfo", &all, None)
}

/// A table's rows as `msiinfo export` prints them (after the names, types and keys lines).
fn rows(package: &Path, table: &str) -> Vec<Vec<String>> {
    msiinfo(&["export", table], package)
        .lines()
        .skip(3)
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect()
}

fn property(package: &Path, name: &str) -> Option<String> {
    rows(package, "Property")
        .into_iter()
        .find(|row| row[0] == name)
        .map(|row| row[1].clone())
}

fn is_guid(text: &str) -> bool {
    text.len() == 38
        && text.starts_with('{')
        && text.ends_with('}')
        && text[1..37]
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// The service's arguments.
fn service_arguments(package: &Path) -> String {
    let services = rows(package, "ServiceInstall");
    assert_eq!(services.len(), 1, "{services:?}");
    services[0][10].clone()
}

#[test]
fn msitools_read_what_the_builder_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = full_options();
    let package = build_msi(&options, dir.path());

    let summary = msiinfo(&["suminfo"], &package);
    for line in [
        "Title: Installation Database",
        "Subject: Fleet osquery",
        "Template: x64;1033",
        "Version: 500 (1f4)",
        "Source: 2 (2)",
    ] {
        assert!(summary.lines().any(|l| l == line), "{line} in\n{summary}");
    }
    let revision = summary
        .lines()
        .find_map(|l| l.strip_prefix("Revision number (UUID): "))
        .expect("revision number");
    assert!(is_guid(revision), "{revision}");

    let tables = msiinfo(&["tables"], &package);
    for table in [
        "Property",
        "Directory",
        "Component",
        "Feature",
        "FeatureComponents",
        "File",
        "Media",
        "Upgrade",
        "ServiceInstall",
        "ServiceControl",
        "InstallExecuteSequence",
        "InstallUISequence",
        "AdminExecuteSequence",
    ] {
        assert!(tables.lines().any(|l| l == table), "{table} in\n{tables}");
    }

    assert_eq!(
        property(&package, "ProductVersion").as_deref(),
        Some("1.38.0")
    );
    assert_eq!(
        property(&package, "ProductName").as_deref(),
        Some("Fleet osquery")
    );
    assert_eq!(property(&package, "ALLUSERS").as_deref(), Some("1"));
    assert_eq!(
        property(&package, "UpgradeCode").as_deref(),
        Some("{B681CB20-107E-428A-9B14-2D3C1AFED244}")
    );
    assert_eq!(
        property(&package, "FLEET_URL").as_deref(),
        Some("https://fleet.example.com")
    );
    let product_code = property(&package, "ProductCode").expect("ProductCode");
    assert!(is_guid(&product_code), "{product_code}");
    assert_ne!(
        product_code, revision,
        "the package code is not the product code"
    );

    // The directory tree: Orbit under the 64-bit Program Files.
    let directories = rows(&package, "Directory");
    let parent_of = |key: &str| {
        directories
            .iter()
            .find(|row| row[0] == key)
            .unwrap_or_else(|| panic!("{key} in {directories:?}"))
            .clone()
    };
    assert_eq!(parent_of("ORBITROOT")[1], "ProgramFiles64Folder");
    assert_eq!(parent_of("ORBITROOT")[2], "Orbit");
    // A directory's install-relative path, from its key.
    let path_of = |key: &str| {
        let mut parts = Vec::new();
        let mut key = key.to_string();
        while key != "ORBITROOT" {
            let row = parent_of(&key);
            parts.push(row[2].rsplit('|').next().expect("name").to_string());
            key = row[1].clone();
        }
        parts.reverse();
        parts.join("/")
    };

    // Files: sequences in cabinet order, the last one the Media row's LastSequence.
    let files = rows(&package, "File");
    let components = rows(&package, "Component");
    let mut sequences: Vec<u32> = files.iter().map(|f| f[7].parse().expect("seq")).collect();
    sequences.sort();
    assert_eq!(sequences, (1..=files.len() as u32).collect::<Vec<_>>());
    let installed: Vec<String> = files
        .iter()
        .map(|f| {
            let component = components
                .iter()
                .find(|c| c[0] == f[1])
                .expect("file's component");
            assert_eq!(component[3], "256", "64-bit component {component:?}");
            assert_eq!(component[5], f[0], "the file is its component's key path");
            assert!(is_guid(&component[1]), "{component:?}");
            let name = f[2].rsplit('|').next().expect("long name");
            let dir = path_of(&component[2]);
            if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            }
        })
        .collect();
    for path in [
        "bin/orbit/orbit.exe",
        "bin/orbit/windows/stable/orbit.exe",
        "bin/osqueryd/windows/stable/osqueryd.exe",
        "bin/desktop/windows/stable/fleet-desktop.exe",
        "secret.txt",
        "osquery.flags",
        "tuf-root.json",
        "fleet.pem",
        "fleet_client.crt",
        "fleet_client.key",
    ] {
        assert!(
            installed.iter().any(|p| p == path),
            "{path} in {installed:?}"
        );
    }
    let media = rows(&package, "Media");
    assert_eq!(media.len(), 1);
    assert_eq!(media[0][1], files.len().to_string());
    assert_eq!(media[0][3], "#orbit.cab");
    let streams = msiinfo(&["streams"], &package);
    assert!(streams.lines().any(|l| l == "orbit.cab"), "{streams}");

    // orbit as an auto-start, own-process service, run from bin\orbit\orbit.exe.
    let services = rows(&package, "ServiceInstall");
    let service = &services[0];
    assert_eq!(service[1], "Fleet osquery");
    assert_eq!(service[3], "16", "SERVICE_WIN32_OWN_PROCESS");
    assert_eq!(service[4], "2", "SERVICE_AUTO_START");
    assert_eq!(service[8], "LocalSystem");
    let service_file = files
        .iter()
        .zip(&installed)
        .find(|(f, _)| f[1] == service[11])
        .expect("the service's component holds a file");
    assert_eq!(service_file.1, "bin/orbit/orbit.exe");
    let arguments = &service[10];
    for argument in [
        "--root-dir \"[ORBITROOT].\"",
        "--fleet-url \"[FLEET_URL]\"",
        "--enroll-secret-path \"[ORBITROOT]secret.txt\"",
        "--fleet-certificate \"[ORBITROOT]fleet.pem\"",
        "--update-url \"https://tuf.fleetctl.com\"",
        "--orbit-channel \"stable\"",
        "--osqueryd-channel \"stable\"",
        "--update-interval \"15m\"",
        "--fleet-tls-client-key \"[ORBITROOT]fleet_client.key\"",
    ] {
        assert!(arguments.contains(argument), "{argument} in {arguments}");
    }
    let controls = rows(&package, "ServiceControl");
    assert_eq!(controls.len(), 1);
    assert_eq!(controls[0][1], "Fleet osquery");
    // Start on install (1), stop on install (2) and uninstall (0x20), delete on uninstall (0x80).
    assert_eq!(controls[0][2], "163");
    assert_eq!(controls[0][5], service[11]);

    let execute: Vec<String> = rows(&package, "InstallExecuteSequence")
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    for action in [
        "InstallFiles",
        "InstallServices",
        "StartServices",
        "StopServices",
        "DeleteServices",
        "RemoveExistingProducts",
        "InstallFinalize",
    ] {
        assert!(
            execute.iter().any(|a| a == action),
            "{action} in {execute:?}"
        );
    }

    // Extracted: the tree under Program Files/Orbit, the contents byte for byte.
    let out = dir.path().join("extracted");
    run(
        "msiextract",
        &["-C", &out.display().to_string()],
        Some(&package),
    );
    let root = out.join("Program Files/Orbit");
    let read =
        |path: &str| std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let targets = targets();
    assert_eq!(read("secret.txt"), options.enroll_secret.as_bytes());
    let orbit = targets.orbit.to_vec().expect("orbit");
    assert_eq!(read("bin/orbit/orbit.exe"), orbit);
    assert_eq!(read("bin/orbit/windows/stable/orbit.exe"), orbit);
    assert_eq!(
        read("bin/osqueryd/windows/stable/osqueryd.exe"),
        targets.osqueryd.to_vec().expect("osqueryd")
    );
    assert_eq!(
        read("bin/desktop/windows/stable/fleet-desktop.exe"),
        targets
            .desktop
            .as_ref()
            .expect("desktop")
            .to_vec()
            .expect("desktop")
    );
    assert_eq!(read("tuf-root.json"), targets.tuf_root);
    assert_eq!(
        read("fleet.pem"),
        options.fleet_certificate.clone().expect("pem")
    );
    assert_eq!(read("fleet_client.key"), b"client key");

    // The secret is in secret.txt only: in no table, not in the summary.
    for table in tables.lines() {
        let export = msiinfo(&["export", table], &package);
        assert!(
            !export.contains(&options.enroll_secret),
            "secret in {table}"
        );
    }
    assert!(!summary.contains(&options.enroll_secret));
}

#[test]
fn service_arguments_follow_the_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let defaults = PackageOptions::new("https://fleet.example.com", "secret");
    let plain = service_arguments(&build_msi(&defaults, &dir.path().join("defaults")));

    let mut options = defaults.clone();
    options.insecure = true;
    options.disable_updates = true;
    options.fleet_desktop = true;
    options.desktop_channel = "edge".into();
    options.debug = true;
    options.orbit_channel = "4.6".into();
    options.update_url = "https://updates.example.com".into();
    let dir_set = dir.path().join("set");
    let package = build_msi(&options, &dir_set);
    let set = service_arguments(&package);

    for flag in [
        "--insecure",
        "--disable-updates",
        "--fleet-desktop",
        "--debug",
    ] {
        assert!(!plain.contains(flag), "{flag} not in {plain}");
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(set.contains("--desktop-channel \"edge\""), "{set}");
    assert!(set.contains("--orbit-channel \"4.6\""), "{set}");
    assert!(
        set.contains("--update-url \"https://updates.example.com\""),
        "{set}"
    );
    assert!(
        plain.contains("--update-url \"https://tuf.fleetctl.com\""),
        "{plain}"
    );
    // No certificate given, no certificate argument (nor file).
    assert!(!set.contains("--fleet-certificate"), "{set}");
    // The channels shape the tree too.
    let out = dir_set.join("extracted");
    run(
        "msiextract",
        &["-C", &out.display().to_string()],
        Some(&package),
    );
    let root = out.join("Program Files/Orbit");
    assert!(root.join("bin/orbit/windows/4.6/orbit.exe").is_file());
    assert!(root
        .join("bin/desktop/windows/edge/fleet-desktop.exe")
        .is_file());
    assert!(!root.join("fleet.pem").exists());
}

#[test]
fn the_same_inputs_build_the_same_package() {
    let options = PackageOptions::new("https://fleet.example.com", "secret");
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    let first = build_msi(&options, one.path());
    assert_eq!(
        std::fs::read(&first).expect("a"),
        std::fs::read(build_msi(&options, two.path())).expect("b"),
        "reproducible: same bytes"
    );
    // Another secret is another package: another ProductCode, so it replaces the first.
    let other = PackageOptions::new("https://fleet.example.com", "another secret");
    let three = tempfile::tempdir().expect("tempdir");
    assert_ne!(
        property(&first, "ProductCode"),
        property(&build_msi(&other, three.path()), "ProductCode")
    );
}
