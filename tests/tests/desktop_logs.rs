//! The device token travels in URL paths: a whole session's log output, at debug level, must
//! not contain it (nor the node keys and secrets of the session).

use flotilla_tests::harness::{Family, Flotilla};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();

    let f = Flotilla::start(Family::Embedded).await;
    let token = "c0ffee00-1111-4222-8333-444455556666";
    let enrolled: serde_json::Value = f
        .http()
        .post(format!("{}/api/fleet/orbit/enroll", f.base))
        .json(&json!({"enroll_secret": f.enroll_secret, "hardware_uuid": "0F0F0F0F-0000-0000-0000-000000000001"}))
        .send()
        .await
        .expect("enroll")
        .json()
        .await
        .expect("json");
    let orbit_key = enrolled["orbit_node_key"]
        .as_str()
        .expect("key")
        .to_string();
    f.http()
        .post(format!("{}/api/fleet/orbit/device_token", f.base))
        .json(&json!({"orbit_node_key": orbit_key, "device_auth_token": token}))
        .send()
        .await
        .expect("token");
    for path in [
        format!("/api/v1/fleet/device/{token}/desktop"),
        format!("/device/{token}"),
        "/api/v1/fleet/device/wrong-token/desktop".into(),
    ] {
        f.http()
            .get(format!("{}{path}", f.base))
            .send()
            .await
            .expect("get");
    }
    let mut osquery = f.client("0F0F0F0F-0000-0000-0000-000000000001");
    osquery.enroll().await;
    osquery.config().await;

    let log = String::from_utf8(captured.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .expect("utf8");
    assert!(
        log.contains("/device/{token}"),
        "the request log names routes: {log}"
    );
    for secret in [
        token,
        "wrong-token",
        &orbit_key,
        &f.enroll_secret,
        osquery.node_key.as_deref().expect("key"),
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}
