//! The updater against real TUF repositories (signed by tough, and by python-tuf) served over
//! loopback HTTP: installs, upgrades, and every way an update can go wrong leaving the current
//! version in place.

mod common;

use agent::paths::RootDir;
use agent::tls::TlsOptions;
use agent::updates::{Component, FailurePolicy, UpdateOutcome, UpdateSettings, Updater};
use common::server::{dead_url, FileServer};
use common::tuf::{in_days, tar_gz, Published, TufRepo};
use common::{assert_file, installs, run_version, script};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

const OSQUERYD: &str = "osqueryd/linux/stable/osqueryd";

fn settings(root: &Path, update_url: &str, trusted_root: &[u8]) -> UpdateSettings {
    UpdateSettings {
        root: RootDir::new(root),
        update_url: update_url.to_owned(),
        trusted_root: trusted_root.to_vec(),
        tls: TlsOptions::default(),
        platform: "linux".to_owned(),
        failure_policy: FailurePolicy::default(),
    }
}

fn osqueryd(bytes: &[u8]) -> Published<'_> {
    Published {
        name: OSQUERYD,
        bytes,
        version: None,
    }
}

fn installed_path(root: &Path) -> PathBuf {
    root.join("bin/osqueryd/linux/stable/osqueryd")
}

fn assert_kept(outcome: &UpdateOutcome, path: Option<&Path>, reason_contains: &str) {
    match outcome {
        UpdateOutcome::Kept { path: kept, reason } => {
            eprintln!("KEPT: {reason}");
            assert_eq!(kept.as_deref(), path, "kept path");
            assert!(
                reason.contains(reason_contains),
                "reason {reason:?} should mention {reason_contains:?}"
            );
        }
        other => panic!("expected Kept, got {other:?}"),
    }
}

/// A repository with osqueryd v1 published and an updater that installed it.
async fn installed_v1() -> (TufRepo, FileServer, TempDir, Updater, Vec<u8>) {
    let repo = TufRepo::new().await;
    let v1 = script("osqueryd", "5.12.1");
    repo.publish(1, &[osqueryd(&v1)], in_days(7)).await;
    let server = FileServer::http(&repo.dir);
    let root = TempDir::new().expect("root dir");
    let mut updater = Updater::new(settings(root.path(), &server.url, &repo.root_json));
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_eq!(
        outcome,
        UpdateOutcome::Installed {
            path: installed_path(root.path()),
            version: None
        }
    );
    assert_file(&installed_path(root.path()), &v1);
    (repo, server, root, updater, v1)
}

#[tokio::test]
async fn first_install_then_up_to_date() {
    let (_repo, server, root, mut updater, v1) = installed_v1().await;
    let path = installed_path(root.path());
    assert_eq!(run_version(&path), "osqueryd version 5.12.1");
    #[cfg(unix)]
    assert_eq!(common::mode(&path), 0o755);
    assert_eq!(server.hits(&format!("targets/{OSQUERYD}")), 1);
    // The TUF state lives in <root>/tuf; staging is left empty.
    assert!(root.path().join("tuf/timestamp.json").is_file());
    assert_eq!(
        std::fs::read_dir(root.path().join("staging"))
            .expect("staging")
            .count(),
        0
    );

    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_eq!(outcome, UpdateOutcome::UpToDate { path: path.clone() });
    assert_eq!(
        server.hits(&format!("targets/{OSQUERYD}")),
        1,
        "an up-to-date file is not downloaded again"
    );
    assert_file(&path, &v1);
}

#[tokio::test]
async fn a_new_version_is_verified_swapped_in_and_runs() {
    let (repo, _server, root, mut updater, _v1) = installed_v1().await;
    let v2 = script("osqueryd", "5.13.0");
    repo.publish(2, &[osqueryd(&v2)], in_days(7)).await;

    let outcome = updater.update(Component::Osqueryd, "stable").await;
    let path = installed_path(root.path());
    assert_eq!(
        outcome,
        UpdateOutcome::Installed {
            path: path.clone(),
            version: None
        }
    );
    assert_file(&path, &v2);
    assert_eq!(run_version(&path), "osqueryd version 5.13.0");
}

#[tokio::test]
async fn orbit_version_comes_from_custom_metadata() {
    let repo = TufRepo::new().await;
    let orbit = script("orbit", "1.38.0");
    repo.publish(
        1,
        &[Published {
            name: "orbit/linux/edge/orbit",
            bytes: &orbit,
            version: Some("1.38.0"),
        }],
        in_days(7),
    )
    .await;
    let server = FileServer::http(&repo.dir);
    let root = TempDir::new().expect("root dir");
    let mut updater = Updater::new(settings(root.path(), &server.url, &repo.root_json));
    let outcome = updater.update(Component::Orbit, "edge").await;
    let path = root.path().join("bin/orbit/linux/edge/orbit");
    assert_eq!(
        outcome,
        UpdateOutcome::Installed {
            path: path.clone(),
            version: Some("1.38.0".to_owned())
        }
    );
    assert_file(&path, &orbit);
    // A channel the repository does not have is not an error that stops anything.
    let outcome = updater.update(Component::Orbit, "stable").await;
    assert_kept(
        &outcome,
        None,
        "orbit/linux/stable/orbit is not in the repository",
    );
}

#[tokio::test]
async fn a_tampered_target_leaves_the_old_version() {
    let (repo, server, root, mut updater, v1) = installed_v1().await;
    let v2 = script("osqueryd", "5.13.0");
    repo.publish(2, &[osqueryd(&v2)], in_days(7)).await;
    // Same length, different bytes: only the hash can tell.
    let evil = script("osqueryd", "6.66.6");
    assert_eq!(evil.len(), v2.len());
    repo.tamper(OSQUERYD, &evil);

    let path = installed_path(root.path());
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_kept(&outcome, Some(&path), "Hash mismatch");
    assert_eq!(server.hits(&format!("targets/{OSQUERYD}")), 2);
    assert_file(&path, &v1);
    assert_eq!(run_version(&path), "osqueryd version 5.12.1");

    // Longer than signed: cut off by the signed length.
    let mut longer = v2.clone();
    longer.extend_from_slice(b"echo pwned\n");
    repo.tamper(OSQUERYD, &longer);
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_kept(&outcome, Some(&path), "Maximum size");
    assert_file(&path, &v1);
    // Nothing half-downloaded is left behind.
    assert_eq!(
        std::fs::read_dir(root.path().join("staging"))
            .expect("staging")
            .count(),
        0
    );
}

#[tokio::test]
async fn a_target_that_does_not_run_is_not_swapped_in() {
    let (repo, _server, root, mut updater, v1) = installed_v1().await;
    let broken = b"#!/bin/sh\necho 'segfault' >&2\nexit 3\n".to_vec();
    repo.publish(2, &[osqueryd(&broken)], in_days(7)).await;

    let path = installed_path(root.path());
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_kept(&outcome, Some(&path), "--version failed");
    assert_file(&path, &v1);
}

#[tokio::test]
async fn a_wrong_trusted_root_leaves_the_old_version() {
    let (repo, server, root, _updater, v1) = installed_v1().await;
    let v2 = script("osqueryd", "5.13.0");
    repo.publish(2, &[osqueryd(&v2)], in_days(7)).await;

    // An agent trusting another repository's root (another key) refuses this one's metadata.
    let other = TufRepo::new().await;
    let mut updater = Updater::new(settings(root.path(), &server.url, &other.root_json));
    let path = installed_path(root.path());
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_kept(&outcome, Some(&path), "Failed to verify timestamp metadata");
    assert_file(&path, &v1);
    assert_eq!(server.hits(&format!("targets/{OSQUERYD}")), 1);
}

#[tokio::test]
async fn expired_metadata_leaves_the_old_version() {
    let (repo, server, root, mut updater, v1) = installed_v1().await;
    let v2 = script("osqueryd", "5.13.0");
    // Signed correctly but expired an hour ago: what took Fleet's agents offline.
    let an_hour_ago = in_days(0) - jiff::SignedDuration::from_hours(1);
    repo.publish(2, &[osqueryd(&v2)], an_hour_ago).await;

    let path = installed_path(root.path());
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_kept(&outcome, Some(&path), "timestamp metadata is expired");
    assert_file(&path, &v1);
    assert_eq!(run_version(&path), "osqueryd version 5.12.1");
    assert_eq!(server.hits(&format!("targets/{OSQUERYD}")), 1);

    // Re-signed with a future expiry, the same release installs.
    repo.publish(3, &[osqueryd(&v2)], in_days(7)).await;
    installs(&mut updater, &path, &v2).await;
}

#[tokio::test]
async fn a_dead_server_leaves_the_old_version() {
    let (repo, _server, root, _updater, v1) = installed_v1().await;
    let mut updater = Updater::new(settings(root.path(), &dead_url(), &repo.root_json));
    let path = installed_path(root.path());
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_kept(&outcome, Some(&path), "Connection refused");
    assert_file(&path, &v1);

    // With nothing installed yet there is nothing to keep, and still no error.
    let empty = TempDir::new().expect("root dir");
    let mut updater = Updater::new(settings(empty.path(), &dead_url(), &repo.root_json));
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_kept(&outcome, None, "Connection refused");
    assert!(!installed_path(empty.path()).exists());
}

#[tokio::test]
async fn three_failures_then_cooldown_then_a_fresh_try() {
    let (repo, server, root, _updater, v1) = installed_v1().await;
    let cooldown = Duration::from_millis(800);
    let mut settings = settings(root.path(), &server.url, &repo.root_json);
    settings.failure_policy = FailurePolicy { tries: 3, cooldown };
    let mut updater = Updater::new(settings);

    let v2 = script("osqueryd", "5.13.0");
    repo.publish(2, &[osqueryd(&v2)], in_days(7)).await;
    repo.tamper(OSQUERYD, &script("osqueryd", "6.66.6"));
    let path = installed_path(root.path());
    let target_hits = || server.hits(&format!("targets/{OSQUERYD}"));
    let before = target_hits();
    for attempt in 1..=3 {
        let outcome = updater.update(Component::Osqueryd, "stable").await;
        assert_kept(&outcome, Some(&path), "Hash mismatch");
        assert_eq!(target_hits(), before + attempt);
    }
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    let UpdateOutcome::CoolingDown { until } = outcome else {
        panic!("expected CoolingDown, got {outcome:?}");
    };
    assert!(until > std::time::Instant::now());
    assert_eq!(
        target_hits(),
        before + 3,
        "a resting target is not downloaded"
    );
    assert_file(&path, &v1);

    // The server is fixed; after the rest the target is tried again and installs.
    repo.tamper(OSQUERYD, &v2);
    tokio::time::sleep_until(until.into()).await;
    installs(&mut updater, &path, &v2).await;
}

#[tokio::test]
async fn a_new_release_is_tried_at_once_despite_a_resting_one() {
    let (repo, server, root, _updater, v1) = installed_v1().await;
    let mut settings = settings(root.path(), &server.url, &repo.root_json);
    settings.failure_policy = FailurePolicy {
        tries: 1,
        cooldown: Duration::from_secs(3600),
    };
    let mut updater = Updater::new(settings);
    let v2 = script("osqueryd", "5.13.0");
    repo.publish(2, &[osqueryd(&v2)], in_days(7)).await;
    repo.tamper(OSQUERYD, &script("osqueryd", "6.66.6"));
    let path = installed_path(root.path());
    assert_kept(
        &updater.update(Component::Osqueryd, "stable").await,
        Some(&path),
        "Hash mismatch",
    );
    assert!(matches!(
        updater.update(Component::Osqueryd, "stable").await,
        UpdateOutcome::CoolingDown { .. }
    ));
    assert_file(&path, &v1);

    let v3 = script("osqueryd", "5.13.1");
    repo.publish(3, &[osqueryd(&v3)], in_days(7)).await;
    installs(&mut updater, &path, &v3).await;
}

#[tokio::test]
async fn a_clock_that_stepped_back_delays_updates_by_one_check_only() {
    let repo = TufRepo::new().await;
    let v1 = script("osqueryd", "5.12.1");
    repo.publish(1, &[osqueryd(&v1)], in_days(7)).await;
    let server = FileServer::http(&repo.dir);
    let root = TempDir::new().expect("root dir");
    // tough saw a time in 2100 (a clock once far ahead); the clock is now correct.
    std::fs::create_dir_all(root.path().join("tuf")).expect("tuf dir");
    std::fs::write(
        root.path().join("tuf/latest_known_time.json"),
        "\"2100-01-01T00:00:00Z\"",
    )
    .expect("write time");
    let mut updater = Updater::new(settings(root.path(), &server.url, &repo.root_json));

    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_kept(&outcome, None, "stepped backward");
    installs(&mut updater, &installed_path(root.path()), &v1).await;
}

#[tokio::test]
async fn a_rotated_root_is_followed_from_the_shipped_one() {
    let (mut repo, server, root, mut updater, _v1) = installed_v1().await;
    // Every key replaced (root version 2), new metadata signed by the new key only.
    repo.rotate_root(2).await;
    let v2 = script("osqueryd", "5.13.0");
    repo.publish(2, &[osqueryd(&v2)], in_days(7)).await;

    installs(&mut updater, &installed_path(root.path()), &v2).await;
    // The chain was walked from the shipped root: 2.root.json fetched, 3.root.json looked
    // for and answered 404, which ended the walk.
    assert!(server.hits("2.root.json") >= 1);
    assert!(server.hits("3.root.json") >= 1);

    // A fresh agent that ships only root version 1 gets there as well.
    let fresh = TempDir::new().expect("root dir");
    let mut updater = Updater::new(settings(fresh.path(), &server.url, &repo.root_json));
    installs(&mut updater, &installed_path(fresh.path()), &v2).await;
}

#[tokio::test]
async fn the_transport_tells_missing_files_from_failures() {
    use agent::updates::HttpClientTransport;
    use tough::{IntoVec, Transport, TransportErrorKind};

    let repo = TufRepo::new().await;
    let server = FileServer::http(&repo.dir);
    let client = agent::tls::http_client(&TlsOptions::default()).expect("client");
    let transport = HttpClientTransport::new(client);
    let url = |path: &str| url::Url::parse(&format!("{}/{path}", server.url)).expect("url");

    let stream = transport.fetch(url("1.root.json")).await.expect("fetch");
    assert_eq!(stream.into_vec().await.expect("body"), repo.root_json);
    let missing = transport.fetch(url("2.root.json")).await;
    assert_eq!(
        missing.err().map(|e| e.kind()),
        Some(TransportErrorKind::FileNotFound)
    );
    let dead = url::Url::parse(&format!("{}/1.root.json", dead_url())).expect("url");
    let unreachable = transport.fetch(dead).await;
    assert_eq!(
        unreachable.err().map(|e| e.kind()),
        Some(TransportErrorKind::Other)
    );
    let file = url::Url::parse("file:///etc/passwd").expect("url");
    assert_eq!(
        transport.fetch(file).await.err().map(|e| e.kind()),
        Some(TransportErrorKind::UnsupportedUrlScheme)
    );
}

#[tokio::test]
async fn archives_are_unpacked_beside_the_archive_and_replaced_whole() {
    let repo = TufRepo::new().await;
    let desktop_v1 = script("fleet-desktop", "1.0.0");
    let archive_v1 = tar_gz(&[
        ("fleet-desktop/fleet-desktop", &desktop_v1),
        ("fleet-desktop/old-only.txt", b"v1"),
    ]);
    let name = "desktop/linux/stable/desktop.tar.gz";
    repo.publish(
        1,
        &[Published {
            name,
            bytes: &archive_v1,
            version: Some("1.0.0"),
        }],
        in_days(7),
    )
    .await;
    let server = FileServer::http(&repo.dir);
    let root = TempDir::new().expect("root dir");
    let mut updater = Updater::new(settings(root.path(), &server.url, &repo.root_json));
    let dir = root.path().join("bin/desktop/linux/stable");

    let outcome = updater.update(Component::Desktop, "stable").await;
    assert_eq!(
        outcome,
        UpdateOutcome::Installed {
            path: dir.join("desktop.tar.gz"),
            version: Some("1.0.0".to_owned())
        }
    );
    assert_file(&dir.join("desktop.tar.gz"), &archive_v1);
    assert_file(&dir.join("fleet-desktop/fleet-desktop"), &desktop_v1);
    assert_eq!(
        run_version(&dir.join("fleet-desktop/fleet-desktop")),
        "fleet-desktop version 1.0.0"
    );

    let desktop_v2 = script("fleet-desktop", "1.1.0");
    let archive_v2 = tar_gz(&[("fleet-desktop/fleet-desktop", &desktop_v2)]);
    repo.publish(
        2,
        &[Published {
            name,
            bytes: &archive_v2,
            version: Some("1.1.0"),
        }],
        in_days(7),
    )
    .await;
    let outcome = updater.update(Component::Desktop, "stable").await;
    assert!(
        matches!(outcome, UpdateOutcome::Installed { .. }),
        "{outcome:?}"
    );
    assert_file(&dir.join("desktop.tar.gz"), &archive_v2);
    assert_file(&dir.join("fleet-desktop/fleet-desktop"), &desktop_v2);
    assert!(
        !dir.join("fleet-desktop/old-only.txt").exists(),
        "the old tree is replaced, not merged"
    );

    // An archive that is not gzip is refused and the installed tree stays.
    repo.publish(
        3,
        &[Published {
            name,
            bytes: b"this is not a tarball",
            version: Some("1.2.0"),
        }],
        in_days(7),
    )
    .await;
    let outcome = updater.update(Component::Desktop, "stable").await;
    assert_kept(
        &outcome,
        Some(&dir.join("desktop.tar.gz")),
        "failed to iterate over archive",
    );
    assert_file(&dir.join("desktop.tar.gz"), &archive_v2);
    assert_file(&dir.join("fleet-desktop/fleet-desktop"), &desktop_v2);
}

#[tokio::test]
async fn an_invalid_channel_is_refused_before_any_request() {
    let repo = TufRepo::new().await;
    let server = FileServer::http(&repo.dir);
    let root = TempDir::new().expect("root dir");
    let mut updater = Updater::new(settings(root.path(), &server.url, &repo.root_json));
    let outcome = updater.update(Component::Osqueryd, "../../etc").await;
    assert_kept(&outcome, None, "not a plain name");
    assert_eq!(server.hits("timestamp.json"), 0);
}

/// `<workspace>/.venv/bin/python3` (tests/run installs python-tuf there), or
/// `FLOTILLA_TEST_PYTHON` for a checkout whose venv lives elsewhere.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("FLOTILLA_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3");
    assert!(
        venv.is_file(),
        "{} is missing: run tests/run (it installs tests/requirements.txt, python-tuf included) \
         or set FLOTILLA_TEST_PYTHON to a python3 with the pinned tuf package",
        venv.display()
    );
    venv
}

#[tokio::test]
async fn installs_from_a_repository_made_by_python_tuf() {
    let work = TempDir::new().expect("temp dir");
    let stand_in = work.path().join("osqueryd");
    let bytes = script("osqueryd", "5.14.0");
    std::fs::write(&stand_in, &bytes).expect("write target");
    let repository = work.path().join("repository");
    let output = tokio::process::Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tuf_repo.py"))
        .arg(&repository)
        .arg(OSQUERYD)
        .arg(&stand_in)
        .arg("5.14.0")
        .output()
        .await
        .expect("run python");
    assert!(
        output.status.success(),
        "tuf_repo.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trusted_root = std::fs::read(repository.join("1.root.json")).expect("root");

    let server = FileServer::http(&repository);
    let root = TempDir::new().expect("root dir");
    let mut updater = Updater::new(settings(root.path(), &server.url, &trusted_root));
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    let path = installed_path(root.path());
    assert_eq!(
        outcome,
        UpdateOutcome::Installed {
            path: path.clone(),
            version: Some("5.14.0".to_owned())
        }
    );
    assert_file(&path, &bytes);
    assert_eq!(run_version(&path), "osqueryd version 5.14.0");
    assert_eq!(
        updater.update(Component::Osqueryd, "stable").await,
        UpdateOutcome::UpToDate { path }
    );
}
