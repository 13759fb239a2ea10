//! The real flotilla-local binary: first start, restart (state and credentials survive a
//! kill), seeded credentials, and HTTPS with the self-signed certificate.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
    enroll_secret: String,
    admin_token: String,
    certificate: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_flotilla-local"));
    command
        .args(["--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env_remove("FLOTILLA_ENROLL_SECRET")
        .env_remove("FLOTILLA_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn flotilla-local");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut secret, mut token, mut cert) = (None, None, None, None);
    while let Some(Ok(line)) = lines.next() {
        if let Some(url) = line.strip_prefix("Flotilla is serving on ") {
            base = Some(url.trim().to_string());
        } else if let Some(v) = line.trim().strip_prefix("enroll secret:") {
            secret = Some(v.trim().to_string());
        } else if let Some(v) = line.trim().strip_prefix("admin token:") {
            token = Some(v.trim().to_string());
        } else if let Some(v) = line.trim().strip_prefix("certificate:") {
            cert = v.split_whitespace().next().map(str::to_string);
        }
        if base.is_some()
            && secret.is_some()
            && token.is_some()
            && (cert.is_some() || !extra.contains(&"--tls-self-signed"))
        {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base: base.expect("serving line"),
        enroll_secret: secret.expect("enroll secret line"),
        admin_token: token.expect("admin token line"),
        certificate: cert,
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(format!("{base}/")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "flotilla-local did not answer on {base}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let response = client.post(url).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json answer"))
}

#[tokio::test]
async fn state_and_credentials_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let server = start(dir.path(), &[], &[]);
    wait_ready(&client, &server.base).await;
    assert_eq!(server.enroll_secret.len(), 32, "24 bytes, base64");
    let details = json!({"system_info": {"uuid": "99999999-0000-0000-0000-000000000001", "hostname": "restart"},
        "os_version": {"platform": "ubuntu", "name": "Ubuntu", "version": "24.04"}});
    let (status, enrolled) = post(
        &client,
        format!("{}/api/osquery/enroll", server.base),
        json!({"enroll_secret": server.enroll_secret, "host_identifier": "99999999-0000-0000-0000-000000000001", "host_details": details}),
    )
    .await;
    assert_eq!(status, 200, "{enrolled}");
    let node_key = enrolled["node_key"].as_str().expect("node key").to_string();
    let (first_secret, first_token) = (server.enroll_secret.clone(), server.admin_token.clone());
    drop(server); // SIGKILL: no graceful shutdown, the store must already be durable
    let credentials =
        std::fs::metadata(dir.path().join("credentials.json")).expect("credentials file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(credentials.permissions().mode() & 0o777, 0o600);
    }

    let server = start(dir.path(), &[], &[]);
    wait_ready(&client, &server.base).await;
    assert_eq!(server.enroll_secret, first_secret);
    assert_eq!(server.admin_token, first_token);
    let (status, config) = post(
        &client,
        format!("{}/api/v1/osquery/config", server.base),
        json!({"node_key": node_key}),
    )
    .await;
    assert_eq!(status, 200, "the node key survived the restart: {config}");
    let hosts: Value = client
        .get(format!("{}/api/v1/fleet/hosts", server.base))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .expect("hosts")
        .json()
        .await
        .expect("json");
    assert_eq!(hosts["hosts"][0]["hostname"], "restart");
}

#[tokio::test]
async fn environment_seeds_the_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let server = start(
        dir.path(),
        &[],
        &[
            ("FLOTILLA_ENROLL_SECRET", "seeded-secret"),
            ("FLOTILLA_ADMIN_TOKEN", "seeded-token"),
        ],
    );
    wait_ready(&client, &server.base).await;
    assert_eq!(server.enroll_secret, "seeded-secret");
    let spec: Value = client
        .get(format!("{}/api/v1/fleet/spec/enroll_secret", server.base))
        .bearer_auth("seeded-token")
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("json");
    let secrets: Vec<&str> = spec["spec"]["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter_map(|s| s["secret"].as_str())
        .collect();
    assert!(secrets.contains(&"seeded-secret"), "{spec}");
    let (status, _) = post(
        &client,
        format!("{}/api/osquery/enroll", server.base),
        json!({"enroll_secret": "seeded-secret", "host_identifier": "x", "host_details": {"system_info": {"uuid": "98989898-0000-0000-0000-000000000001"}}}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn serves_https_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), &["--tls-self-signed"], &[]);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let pem =
        std::fs::read(server.certificate.as_ref().expect("certificate path")).expect("certificate");
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let base = server.base.replace("127.0.0.1", "localhost");
    wait_ready(&trusted, &base).await;
    let (status, answer) = post(
        &trusted,
        format!("{base}/api/osquery/enroll"),
        json!({"enroll_secret": "wrong"}),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(answer["node_invalid"], true);
    // A client that does not trust the certificate is refused by TLS itself.
    let untrusting = reqwest::Client::new();
    assert!(untrusting.get(format!("{base}/")).send().await.is_err());
}
