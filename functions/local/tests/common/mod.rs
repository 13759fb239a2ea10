//! The real flotilla-local binary as a child process, for the integration tests.

#![allow(dead_code)] // each test file uses its own subset

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub base: String,
    pub enroll_secret: String,
    pub admin_token: String,
    pub certificate: Option<String>,
    /// The one-time first-admin link, printed while no user exists.
    pub setup_link: Option<String>,
    /// Everything the server printed before it was ready.
    pub startup_output: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn start(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
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
    let (mut base, mut cert, mut setup_link) = (None, None, None);
    let mut startup_output = String::new();
    while let Some(Ok(line)) = lines.next() {
        startup_output.push_str(&line);
        startup_output.push('\n');
        if let Some(url) = line.strip_prefix("Flotilla is serving on ") {
            base = Some(url.trim().to_string());
        } else if let Some(v) = line.trim().strip_prefix("certificate:") {
            cert = v.split_whitespace().next().map(str::to_string);
        } else if let Some(v) = line.trim().strip_prefix("first admin:") {
            setup_link = Some(v.trim().to_string());
        } else if line.starts_with("Press Ctrl-C to stop.") {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let stored: Value = serde_json::from_slice(
        &std::fs::read(data_dir.join("credentials.json")).expect("credentials.json"),
    )
    .expect("credentials.json is JSON");
    // The environment wins over the file, as in the server.
    let credential = |variable: &str, field: &str| {
        env.iter()
            .find(|(k, _)| *k == variable)
            .map(|(_, v)| v.to_string())
            .or_else(|| stored[field].as_str().map(str::to_string))
            .expect("credential")
    };
    Server {
        child,
        base: base.expect("serving line"),
        enroll_secret: credential("FLOTILLA_ENROLL_SECRET", "enroll_secret"),
        admin_token: credential("FLOTILLA_ADMIN_TOKEN", "admin_token"),
        certificate: cert,
        setup_link,
        startup_output,
    }
}

pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
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

pub async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let response = client.post(url).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json answer"))
}
