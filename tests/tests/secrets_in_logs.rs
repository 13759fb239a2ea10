//! The server's logs through whole admin sessions, on both adapter families, at the most
//! verbose level and in the JSON form Lambda writes: no password, session token, API token,
//! setup token or break-glass token may appear in them.

use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;

use flotilla_tests::harness::{Family, Flotilla};

flotilla_tests::both!(a_whole_session_leaves_no_secret_in_the_log);

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// One subscriber for the whole test binary, capturing everything.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .json()
            .with_writer(captured.clone())
            .init();
        captured
    })
}

fn log_text() -> String {
    String::from_utf8_lossy(&captured().0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

async fn a_whole_session_leaves_no_secret_in_the_log(family: Family) {
    let _ = captured();
    let f = Flotilla::start(family).await;
    let mut secrets = vec![f.break_glass.clone()];
    let password = "first admin password 1!".to_string();
    secrets.push(password.clone());
    let (status, created) = f
        .admin("POST", "/api/v1/setup", Some(json!({"admin": {"email": "first@example.com", "name": "First", "password": password, "password_confirmation": password}})))
        .await;
    assert!(status.is_success(), "{created}");
    secrets.push(created["token"].as_str().expect("token").to_string());

    let user = f.user(Some("maintainer"), &[]).await;
    secrets.push(user.password.clone());
    secrets.push(user.token.clone());
    let wrong = "a wrong password 9!".to_string();
    secrets.push(wrong.clone());
    f.admin_as(
        None,
        "POST",
        "/api/v1/fleet/login",
        Some(json!({"email": user.email, "password": wrong})),
    )
    .await;
    f.admin_as(
        None,
        "POST",
        "/api/v1/fleet/login",
        Some(json!({"email": "nobody@example.com", "password": wrong})),
    )
    .await;
    let new_password = "changed password 2#".to_string();
    secrets.push(new_password.clone());
    let (status, _) = f
        .admin_as(
            Some(&user.token),
            "POST",
            "/api/v1/fleet/change_password",
            Some(json!({"old_password": user.password, "new_password": new_password})),
        )
        .await;
    assert!(status.is_success());
    let (status, api) = f
        .admin("POST", "/api/v1/fleet/users/admin", Some(json!({"name": "CI", "email": "ci@example.com", "global_role": "observer", "api_only": true})))
        .await;
    assert!(status.is_success(), "{api}");
    let api_token = api["token"].as_str().expect("token").to_string();
    secrets.push(api_token.clone());
    f.admin_as(Some(&api_token), "GET", "/api/v1/fleet/hosts", None)
        .await;
    let id = api["user"]["id"].as_u64().expect("id");
    let (_, rotated) = f
        .admin(
            "POST",
            &format!("/api/v1/fleet/users/{id}/api_token"),
            Some(json!({})),
        )
        .await;
    secrets.push(rotated["token"].as_str().expect("token").to_string());
    f.admin_as(Some(&api_token), "GET", "/api/v1/fleet/hosts", None)
        .await; // revoked: 401
    f.admin_as(Some(&user.token), "POST", "/api/v1/fleet/logout", None)
        .await;
    f.admin_as(Some(&user.token), "GET", "/api/v1/fleet/me", None)
        .await; // 401

    let log = log_text();
    assert!(
        log.contains("/api/v1/fleet/login"),
        "the requests were logged: {} bytes",
        log.len()
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret reached the log: {secret:?}"
        );
    }
}
