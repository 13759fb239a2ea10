//! The whole agent with updates on: the flotilla-agent binary against a real Flotilla and a
//! real TUF repository (signed with tough) on loopback. It installs osqueryd from the
//! repository and runs it; a tampered release leaves the running one alone; the next genuine
//! release is fetched, verified, swapped in and osqueryd is restarted on it.

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

/// A stand-in osqueryd of `version` that records each daemon start, with its arguments, as
/// `<records>/<version>-<n>`.
fn osqueryd(version: &str, records: &Path) -> Vec<u8> {
    format!(
        r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "osqueryd version {version}"; exit 0; fi
if [ "$1" = "-S" ]; then echo '[]'; exit 0; fi
n=$(ls "{records}" | wc -l)
printf '%s\n' "$@" > "{records}/{version}-$n"
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

/// The flags of an agent with updates on: `f` as its Fleet, `tuf` serving `repo`, and the
/// enroll secret in a file under `dir`.
fn agent_args(
    f: &Flotilla,
    dir: &Path,
    root: &Path,
    tuf: &FileServer,
    repo: &TufRepo,
) -> Vec<String> {
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, &f.enroll_secret).expect("secret");
    vec![
        format!("--fleet-url={}", f.base),
        format!("--enroll-secret-path={}", secret.display()),
        format!("--root-dir={}", root.display()),
        format!("--update-url={}", tuf.url),
        format!(
            "--update-roots={}",
            String::from_utf8(repo.root_json.clone()).expect("utf-8 root")
        ),
    ]
}

fn spawn_agent(args: &[String]) -> Agent {
    let child = Command::new(env!("CARGO_BIN_EXE_flotilla-agent"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start flotilla-agent");
    Agent(child)
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
    let mut args = agent_args(&f, dir.path(), &root, &tuf, &repo);
    args.extend(["--update-interval=1s", "--orbit-config-interval=200ms"].map(String::from));
    let _agent = spawn_agent(&args);

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

    // Tried three times, then rested; the next genuine release installs at once, and
    // osqueryd is restarted on it.
    let v3 = osqueryd("5.13.1", &records);
    publish(&repo, 3, &v3).await;
    wait_until("osqueryd 5.13.1 running", || started(&records, "5.13.1")).await;
    assert_eq!(std::fs::read(&installed).expect("installed"), v3);
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

/// The agent updates itself: the new orbit target is verified, installed, and the agent
/// re-executes into it with the same arguments (here a stand-in that records them).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_replaces_itself_and_restarts_with_the_same_arguments() {
    let f = Flotilla::start(Family::Embedded).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("orbit");
    let recorded = dir.path().join("new-agent-args");
    let new_agent = format!(
        "#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then echo 'orbit 1.50.0'; exit 0; fi\necho $$ > {0}.pid\nprintf '%s\\0' \"$@\" > {0}.tmp && mv {0}.tmp {0}\nexec sleep 100000\n",
        recorded.display()
    );
    let repo = TufRepo::new().await;
    let target = Published {
        name: "orbit/linux/stable/orbit",
        bytes: new_agent.as_bytes(),
        version: Some("1.50.0"),
    };
    repo.publish(1, &[target], in_days(7)).await;
    let tuf = FileServer::http(&repo.dir);
    let mut args = agent_args(&f, dir.path(), &root, &tuf, &repo);
    args.push("--update-interval=1s".to_string());
    let agent = spawn_agent(&args);
    let pid = agent.0.id();
    wait_until("the new agent to run", || recorded.is_file()).await;
    let seen: Vec<String> = std::fs::read_to_string(&recorded)
        .expect("args")
        .split_terminator('\0')
        .map(str::to_string)
        .collect();
    assert_eq!(seen, args, "same arguments");
    // The same process (exec, not a child), now running the installed target.
    let new_pid = std::fs::read_to_string(recorded.with_extension("pid")).expect("pid");
    assert_eq!(new_pid.trim(), pid.to_string());
    assert_eq!(
        std::fs::read(root.join("bin/orbit/linux/stable/orbit")).expect("installed"),
        new_agent.as_bytes()
    );
}

/// Extensions named by the orbit config are fetched from the repository
/// (`extensions/<name>/<platform>/<channel>/<file>`), listed in `extensions.load`, and osqueryd
/// is restarted to load them.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_from_the_orbit_config_are_installed_and_autoloaded() {
    let f = Flotilla::start(Family::Embedded).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("orbit");
    let records = dir.path().join("records");
    std::fs::create_dir_all(&records).expect("records");
    let repo = TufRepo::new().await;
    let v1 = osqueryd("5.12.1", &records);
    let extension = b"\x7fELF not really an extension".to_vec();
    repo.publish(
        1,
        &[
            Published {
                name: TARGET,
                bytes: &v1,
                version: None,
            },
            Published {
                name: "extensions/hello/linux/stable/hello.ext",
                bytes: &extension,
                version: None,
            },
        ],
        in_days(7),
    )
    .await;
    let tuf = FileServer::http(&repo.dir);
    let (status, _) = f
        .admin(
            "PATCH",
            "/api/v1/fleet/config",
            Some(serde_json::json!({"agent_options": {"extensions": {
                "hello": {"platform": "linux", "channel": "stable", "file_name": "hello.ext"},
                "other_os": {"platform": "windows", "channel": "stable", "file_name": "x.ext"},
                "broken": {"platform": "linux"}
            }}})),
        )
        .await;
    assert!(status.is_success());
    let mut args = agent_args(&f, dir.path(), &root, &tuf, &repo);
    args.extend(["--update-interval=1h", "--orbit-config-interval=200ms"].map(String::from));
    let _agent = spawn_agent(&args);

    let installed = root.join("bin/extensions/hello/linux/stable/hello.ext");
    let autoload = root.join("extensions.load");
    let flag = format!("--extensions_autoload={}", autoload.display());
    // The config's extensions wake the update loop at once (its interval here is an hour).
    wait_until("osqueryd started with the extension", || {
        std::fs::read_dir(&records)
            .map(|entries| {
                entries.flatten().any(|entry| {
                    std::fs::read_to_string(entry.path())
                        .is_ok_and(|args| args.lines().any(|arg| arg == flag))
                })
            })
            .unwrap_or(false)
    })
    .await;
    assert_eq!(std::fs::read(&installed).expect("extension"), extension);
    assert_eq!(
        std::fs::read_to_string(&autoload).expect("extensions.load"),
        format!("{}\n", installed.display()),
        "only this platform's well-formed entries"
    );
}
