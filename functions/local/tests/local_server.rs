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

/// The first start prints a one-time link to create the first admin, and no secret: the
/// enroll secret and the break-glass token stay in credentials.json.
#[tokio::test]
async fn first_start_prints_a_one_time_setup_link_and_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let server = start(dir.path(), &[], &[]);
    wait_ready(&client, &server.base).await;
    assert!(!server.startup_output.contains(&server.enroll_secret));
    assert!(!server.startup_output.contains(&server.admin_token));
    let link = server
        .setup_link
        .clone()
        .expect("a setup link while no user exists");
    let token = link
        .split("token=")
        .nth(1)
        .expect("token in the link")
        .to_string();
    assert!(
        link.starts_with(&format!("{}/setup?token=", server.base)),
        "{link}"
    );
    assert!(
        token.len() == 43
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "a URL-safe token, usable in the link as it is: {token}"
    );

    let setup = |token: Option<String>| {
        let client = client.clone();
        let url = format!("{}/api/v1/setup", server.base);
        async move {
            let mut request = client.post(url).json(&json!({
                "admin": {"email": "first@example.com", "name": "First", "password": "first admin 1!", "password_confirmation": "first admin 1!"},
                "org_info": {"org_name": "Acme"},
                "server_url": "http://127.0.0.1"
            }));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("setup");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("json"),
            )
        }
    };
    let (status, _) = setup(None).await;
    assert_eq!(status, 401, "setup needs the link's token");
    let (status, _) = setup(Some("not-the-token".into())).await;
    assert_eq!(status, 401);
    let (status, created) = setup(Some(token.clone())).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["admin"]["global_role"], "admin");
    assert!(created["token"].as_str().is_some_and(|t| t.len() == 43));
    let (status, _) = setup(Some(token)).await;
    assert_eq!(status, 409, "setup works once");
    drop(server);

    let server = start(dir.path(), &[], &[]);
    wait_ready(&client, &server.base).await;
    assert_eq!(server.setup_link, None, "no link once an admin exists");
}
