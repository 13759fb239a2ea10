//! The real flotilla-local binary: first start, restart (state and credentials survive a
//! kill), seeded credentials, and HTTPS with the self-signed certificate.

mod common;

use common::{post, start, wait_ready};
use serde_json::{json, Value};

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
