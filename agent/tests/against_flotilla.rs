//! The agent against a real Flotilla (the embedded family, in process, on loopback): the
//! flotilla-agent binary enrolls, runs a stand-in osqueryd with exactly the right flags and
//! environment, follows the orbit config, enrolls again when the server forgets its key,
//! restarts a crashing osqueryd with backoff and stops it on SIGTERM; the Fleet Desktop token
//! is set, checked, and rotated when old or refused.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent::device_token::{Checked, DeviceToken};
use agent::enrollment::Enrollment;
use agent::host_facts::HostFacts;
use agent::orbit_api::OrbitApi;
use flotilla::api::Group;
use flotilla::domain::layout;
use flotilla_tests::harness::{Family, Flotilla};

const UUID: &str = "A6E11700-0000-0000-0000-000000000001";

struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in osqueryd: answers the facts query like `osqueryd -S --json`, records each
/// daemon start (arguments, then ENROLL_SECRET) in `<records>/run-<n>`, exits at once while
/// `<records>/crash` exists, and records a SIGTERM in `<records>/stopped-<n>`.
fn install_osqueryd(root: &Path, records: &Path) -> PathBuf {
    let dir = root
        .join("bin/osqueryd")
        .join(agent::paths::platform())
        .join("stable");
    std::fs::create_dir_all(&dir).expect("bin dir");
    std::fs::create_dir_all(records).expect("records dir");
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = "-S" ]; then
  echo '[{{"uuid":"{UUID}","hardware_serial":"SER-A","hostname":"agent-host","computer_name":"agent-host","hardware_model":"VM","instance_id":"inst-a","platform":"ubuntu"}}]'
  exit 0
fi
if [ "$1" = "--version" ]; then echo "osqueryd version 5.12.1"; exit 0; fi
R="{records}"
n=$(ls "$R" | grep -c '^run-')
{{ for a in "$@"; do echo "$a"; done; echo "ENROLL_SECRET=$ENROLL_SECRET"; }} > "$R/.tmp-$n"
mv "$R/.tmp-$n" "$R/run-$n"
[ -e "$R/crash" ] && exit 3
trap 'echo stopped > "$R/stopped-$n"; exit 0' TERM
while true; do sleep 0.05; done
"#,
        records = records.display()
    );
    let path = dir.join("osqueryd");
    std::fs::write(&path, script).expect("write osqueryd");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    path
}

/// Where the agent started by `start_agent` logs.
fn agent_log(root: &Path) -> PathBuf {
    root.with_extension("log")
}

fn start_agent(f: &Flotilla, root: &Path, extra: &[&str]) -> Agent {
    let secret_file = root.join("secret.txt");
    std::fs::write(&secret_file, format!("{}\n", f.enroll_secret)).expect("secret");
    let child = Command::new(env!("CARGO_BIN_EXE_flotilla-agent"))
        .arg(format!("--fleet-url={}", f.base))
        .arg(format!("--enroll-secret-path={}", secret_file.display()))
        .arg(format!("--root-dir={}", root.display()))
        .arg("--disable-updates")
        .arg("--orbit-config-interval=200ms")
        .args(extra)
        .env_remove("ORBIT_ENROLL_SECRET")
        .stdout(Stdio::null())
        // A file, not a pipe: nobody reads a pipe while the agent runs, and a full one blocks it.
        .stderr(std::fs::File::create(agent_log(root)).expect("log file"))
        .spawn()
        .expect("start flotilla-agent");
    Agent { child }
}

async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn runs(records: &Path) -> Vec<Vec<String>> {
    let mut runs: Vec<(usize, Vec<String>)> = std::fs::read_dir(records)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let n = name.strip_prefix("run-")?.parse().ok()?;
                    let text = std::fs::read_to_string(entry.path()).ok()?;
                    Some((n, text.lines().map(str::to_string).collect()))
                })
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    runs.into_iter().map(|(_, args)| args).collect()
}

fn node_key(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join("secret-orbit-node-key.txt"))
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_enrolls_supervises_osqueryd_and_follows_the_config() {
    let f = Flotilla::start(Family::Embedded).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("orbit");
    let records = dir.path().join("records");
    install_osqueryd(&root, &records);
    let mut agent = start_agent(&f, &root, &["--debug", "--", "--logger_min_status=1"]);

    // Enrolled, with the node key readable by root only; the host is the osqueryd-reported one.
    let key = wait_for("the orbit node key", || node_key(&root)).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join("secret-orbit-node-key.txt"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    assert_eq!(hosts["hosts"][0]["uuid"], json!(UUID), "{hosts}");

    // osqueryd runs with exactly the flags of an orbit-like agent, and the secret in its env.
    let first = wait_for("osqueryd's first start", || {
        runs(&records).into_iter().next()
    })
    .await;
    let host = f.base.trim_start_matches("http://");
    let r = root.display();
    let expected: Vec<String> = [
        "--host_identifier=uuid".to_string(),
        format!("--tls_hostname={host}"),
        "--enroll_tls_endpoint=/api/v1/osquery/enroll".into(),
        "--enroll_secret_env=ENROLL_SECRET".into(),
        "--config_plugin=tls".into(),
        "--config_tls_endpoint=/api/v1/osquery/config".into(),
        "--config_refresh=60".into(),
        "--disable_distributed=false".into(),
        "--distributed_plugin=tls".into(),
        "--distributed_tls_max_attempts=10".into(),
        "--distributed_tls_read_endpoint=/api/v1/osquery/distributed/read".into(),
        "--distributed_tls_write_endpoint=/api/v1/osquery/distributed/write".into(),
        "--logger_plugin=tls".into(),
        "--logger_tls_endpoint=/api/v1/osquery/log".into(),
        "--disable_carver=false".into(),
        "--carver_disable_function=false".into(),
        "--carver_start_endpoint=/api/v1/osquery/carve/begin".into(),
        "--carver_continue_endpoint=/api/v1/osquery/carve/block".into(),
        "--carver_block_size=2000000".into(),
        format!("--pidfile={r}/osquery.pid"),
        format!("--database_path={r}/osquery.db"),
        format!("--extensions_socket={r}/orbit-osquery.em"),
        format!("--logger_path={r}/osquery_log"),
        "--force".into(),
        "--logger_min_status=1".into(),
        format!("ENROLL_SECRET={}", f.enroll_secret),
    ]
    .into_iter()
    .collect();
    assert_eq!(first, expected);

    // The server pushes a startup flag: osqueryd is restarted with it (the old one stopped).
    f.admin(
        "PATCH",
        "/api/v1/fleet/config",
        Some(json!({"agent_options": {"command_line_flags": {"verbose": true}}})),
    )
    .await;
    f.advance_secs(6); // past the server's 5 s config cache
    let second = wait_for("osqueryd restarted with the new flag", || {
        runs(&records).into_iter().nth(1)
    })
    .await;
    assert!(second.contains(&"--verbose=true".to_string()), "{second:?}");
    assert!(
        records.join("stopped-0").exists(),
        "the old osqueryd got SIGTERM"
    );

    // The server forgets the orbit node key: the agent enrolls again (same host).
    let app = &f.apps[&Group::Orbit];
    let hash = hex(&Sha256::digest(key.as_bytes()));
    app.ports
        .state
        .write(vec![flotilla::ports::WriteOp::Delete {
            key: layout::orbit_node_key(&hash),
            cond: flotilla::ports::Cond::None,
        }])
        .await
        .expect("forget the key");
    let new_key = wait_for("a new node key", || node_key(&root).filter(|k| *k != key)).await;
    assert_ne!(new_key, key);
    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    assert_eq!(hosts["hosts"].as_array().map(Vec::len), Some(1), "{hosts}");

    // SIGTERM: osqueryd is stopped, then the agent exits cleanly.
    #[cfg(unix)]
    {
        let runs_before = runs(&records).len();
        // SAFETY: kill(2) on our child.
        unsafe { libc::kill(agent.child.id() as i32, libc::SIGTERM) };
        let status = wait_for("the agent to exit", || {
            agent.child.try_wait().ok().flatten()
        })
        .await;
        assert!(status.success(), "{status:?}");
        // Its whole debug log: secrets never appear in it.
        let log = std::fs::read_to_string(agent_log(&root)).expect("agent log");
        assert!(log.contains("enrolled"), "the log was captured: {log}");
        for secret in [&f.enroll_secret, &key, &new_key] {
            assert!(!log.contains(secret.as_str()), "a secret in the log");
        }
        let last = runs_before - 1;
        assert!(
            records.join(format!("stopped-{last}")).exists(),
            "osqueryd {last} was stopped"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_osqueryd_is_restarted_with_backoff() {
    let f = Flotilla::start(Family::Embedded).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("orbit");
    let records = dir.path().join("records");
    install_osqueryd(&root, &records);
    std::fs::write(records.join("crash"), "").expect("crash marker");
    let _agent = start_agent(&f, &root, &[]);
    let started = Instant::now();
    wait_for("three crashed starts", || {
        (runs(&records).len() >= 3).then_some(())
    })
    .await;
    // Backoff 1 s then 2 s: the third start comes no sooner than ~3 s after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "restarted too fast: {:?}",
        started.elapsed()
    );
    std::fs::remove_file(records.join("crash")).expect("stop crashing");
    let before = runs(&records).len();
    wait_for("a start that stays up", || {
        (runs(&records).len() > before).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        runs(&records).len(),
        before + 1,
        "a healthy osqueryd is left running"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn facts() -> HostFacts {
    HostFacts {
        hardware_uuid: "D35C0000-0000-0000-0000-000000000002".into(),
        hostname: "desk".into(),
        platform: "ubuntu".into(),
        ..HostFacts::default()
    }
}

async fn desktop_status(f: &Flotilla, token: &str) -> u16 {
    let (status, _): (_, Value) = f
        .admin_as(
            None,
            "GET",
            &format!("/api/latest/fleet/device/{token}/desktop"),
            None,
        )
        .await;
    status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_token_is_set_checked_and_rotated() {
    let f = Flotilla::start(Family::Embedded).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let http = agent::tls::http_client(&agent::tls::TlsOptions::default()).expect("client");
    let enrollment = std::sync::Arc::new(Enrollment::new(
        OrbitApi::new(http, &f.base),
        f.enroll_secret.clone(),
        facts(),
        false,
        dir.path().join("secret-orbit-node-key.txt"),
    ));
    let path = dir.path().join("identifier");
    let tokens = DeviceToken::new(enrollment.clone(), path.clone());
    let read = || std::fs::read_to_string(&path).expect("identifier");

    assert_eq!(tokens.check().await.expect("first"), Checked::Rotated);
    let first = read();
    assert_eq!(first.len(), 36, "a UUID");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "readable by the desktop user");
    }
    assert_eq!(desktop_status(&f, &first).await, 200);
    assert_eq!(tokens.check().await.expect("ping"), Checked::Valid);
    assert_eq!(read(), first);

    // An hour old on disk: rotated; the old token stops working on the server.
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3601);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_modified(hour_ago))
        .expect("age the file");
    assert_eq!(tokens.check().await.expect("age"), Checked::Rotated);
    let second = read();
    assert_ne!(second, first);
    assert_eq!(desktop_status(&f, &first).await, 401);
    assert_eq!(desktop_status(&f, &second).await, 200);

    // The server's clock passes the hour (the file still looks fresh): the ping fails, rotated.
    f.advance_secs(3601);
    assert_eq!(desktop_status(&f, &second).await, 401);
    assert_eq!(tokens.check().await.expect("expired"), Checked::Rotated);
    let third = read();
    assert_ne!(third, second);
    assert_eq!(desktop_status(&f, &third).await, 200);
}

/// As a user (not root, so no session switch): the tray app is started once the token is
/// set, with the environment Fleet Desktop reads.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_desktop_starts_with_its_environment() {
    use std::os::unix::fs::PermissionsExt;
    let f = Flotilla::start(Family::Embedded).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("orbit");
    let records = dir.path().join("records");
    install_osqueryd(&root, &records);
    let app_dir = root
        .join("bin/desktop")
        .join(agent::paths::platform())
        .join("stable/fleet-desktop");
    std::fs::create_dir_all(&app_dir).expect("desktop dir");
    let app = app_dir.join("fleet-desktop");
    std::fs::write(
        &app,
        format!(
            "#!/bin/sh\nenv | grep '^FLEET_DESKTOP_' | sort > {}/desktop-env.tmp && mv {0}/desktop-env.tmp {0}/desktop-env\nexec sleep 100000\n",
            records.display()
        ),
    )
    .expect("desktop app");
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, &f.enroll_secret).expect("secret");
    // As root, everything belongs to `nobody`, who then runs the agent.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let chown = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(chown.success());
    }
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut command = if as_root {
        let mut setpriv = Command::new("setpriv");
        setpriv
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_flotilla-agent"));
        setpriv
    } else {
        Command::new(env!("CARGO_BIN_EXE_flotilla-agent"))
    };
    let child = command
        .arg(format!("--fleet-url={}", f.base))
        .arg(format!("--enroll-secret-path={}", secret_file.display()))
        .arg(format!("--root-dir={}", root.display()))
        .args([
            "--disable-updates",
            "--orbit-config-interval=200ms",
            "--fleet-desktop",
            "--fleet-desktop-alternative-browser-host=desk.example.com",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the agent as nobody");
    let _agent = Agent { child };
    let env = wait_for("the desktop app's environment", || {
        std::fs::read_to_string(records.join("desktop-env")).ok()
    })
    .await;
    let token = std::fs::read_to_string(root.join("identifier")).expect("token");
    assert_eq!(desktop_status(&f, token.trim()).await, 200);
    assert_eq!(
        env.lines().collect::<Vec<_>>(),
        [
            "FLEET_DESKTOP_ALTERNATIVE_BROWSER_HOST=desk.example.com".to_string(),
            format!(
                "FLEET_DESKTOP_DEVICE_IDENTIFIER_PATH={}",
                root.join("identifier").display()
            ),
            format!("FLEET_DESKTOP_FLEET_URL={}", f.base),
        ]
    );
}
