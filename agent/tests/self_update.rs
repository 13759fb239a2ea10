//! The whole agent with updates on: the flotilla-agent binary against a real Flotilla and a
//! real TUF repository (signed with tough) on loopback. It installs osqueryd from the
//! repository and runs it; a newer release is fetched, verified, swapped in and osqueryd is
//! restarted on it; a tampered release leaves the running one alone.

mod common;

use common::server::FileServer;
use common::tuf::{in_days, Published, TufRepo};
use flotilla_tests::harness::{Family, Flotilla};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A stand-in osqueryd of `version` that records each daemon start as `<records>/<version>-<n>`.
fn osqueryd(version: &str, records: &Path) -> Vec<u8> {
    format!(
        r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "osqueryd version {version}"; exit 0; fi
if [ "$1" = "-S" ]; then echo '[]'; exit 0; fi
n=$(ls "{records}" | wc -l)
touch "{records}/{version}-$n"
trap 'touch "{records}/stopped-{version}-$n"; exit 0' TERM
while true; do sleep 0.05; done
"#,
        records = records.display()
    )
    .into_bytes()
}

fn started(records: &Path, version: &str) -> bool {
    std::fs::read_dir(records)
        .map(|entries| {
            entries.flatten().any(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{version}-"))
            })
        })
        .unwrap_or(false)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const TARGET: &str = "osqueryd/linux/stable/osqueryd";

async fn publish(repo: &TufRepo, version: u64, bytes: &[u8]) {
    let target = Published {
        name: TARGET,
        bytes,
        version: None,
    };
    repo.publish(version, &[target], in_days(7)).await;
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osqueryd_is_installed_updated_and_restarted_from_tuf() {
    let f = Flotilla::start(Family::Embedded).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("orbit");
    let records = dir.path().join("records");
    std::fs::create_dir_all(&records).expect("records");
    let repo = TufRepo::new().await;
    let v1 = osqueryd("5.12.1", &records);
    publish(&repo, 1, &v1).await;
    let tuf = FileServer::http(&repo.dir);
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, &f.enroll_secret).expect("secret");
    let child = Command::new(env!("CARGO_BIN_EXE_flotilla-agent"))
        .arg(format!("--fleet-url={}", f.base))
        .arg(format!("--enroll-secret-path={}", secret.display()))
        .arg(format!("--root-dir={}", root.display()))
        .arg(format!("--update-url={}", tuf.url))
        .arg(format!(
            "--update-roots={}",
            String::from_utf8(repo.root_json.clone()).expect("utf-8 root")
        ))
        .args(["--update-interval=1s", "--orbit-config-interval=200ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flotilla-agent");
    let _agent = Agent(child);

    // Nothing installed at first: the updater installs v1 and the agent starts it.
    wait_until("osqueryd 5.12.1 running", || started(&records, "5.12.1")).await;
    let installed = root.join("bin").join(TARGET);
    assert_eq!(std::fs::read(&installed).expect("installed"), v1);

    // A tampered release (bytes changed after signing) is refused; 5.12.1 keeps running.
    let v2 = osqueryd("5.13.0", &records);
    publish(&repo, 2, &v2).await;
    repo.tamper(TARGET, &osqueryd("6.6.6", &records));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(std::fs::read(&installed).expect("installed"), v1);
    assert!(!started(&records, "6.6.6") && !started(&records, "5.13.0"));

    // The genuine bytes come back: 5.13.0 is swapped in and osqueryd restarted on it.
    repo.tamper(TARGET, &v2);
    wait_until("osqueryd 5.13.0 running", || started(&records, "5.13.0")).await;
    assert_eq!(std::fs::read(&installed).expect("installed"), v2);
    assert!(
        std::fs::read_dir(&records)
            .expect("records")
            .flatten()
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with("stopped-5.12.1")),
        "the old osqueryd was stopped"
    );
}
