//! Fleet's orbit protocol, as orbit speaks it, against both adapter families: enroll, config,
//! device token rotation, re-enroll after a 401, and one host shared with osquery.

use flotilla_tests::harness::{Family, Flotilla};
use reqwest::StatusCode;
use serde_json::{json, Value};

flotilla_tests::both!(orbit_session, device_tokens);

/// One orbit request: the status, the capabilities header and the JSON answer.
async fn orbit(f: &Flotilla, path: &str, body: Value) -> (StatusCode, Option<String>, Value) {
    let response = f
        .http()
        .post(format!("{}/api/fleet/orbit/{path}", f.base))
        .json(&body)
        .send()
        .await
        .expect("orbit request");
    let status = response.status();
    let capabilities = response
        .headers()
        .get("x-fleet-capabilities")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        capabilities,
        response.json().await.expect("JSON answer"),
    )
}

fn enroll_body(secret: &str, uuid: &str) -> Value {
    json!({"enroll_secret": secret, "hardware_uuid": uuid, "hardware_serial": "C02XYZ", "hostname": "mac-1",
        "platform": "darwin", "computer_name": "Mac 1", "hardware_model": "MacBookPro18,1"})
}

async fn orbit_session(family: Family) {
    let f = Flotilla::start(family).await;
    let uuid = "0A0B0C0D-0000-0000-0000-000000000001";
    let (status, caps, body) = orbit(&f, "enroll", enroll_body("wrong", uuid)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(caps.as_deref(), Some("orbit_endpoints,token_rotation"));

    let (status, caps, body) = orbit(&f, "enroll", enroll_body(&f.enroll_secret, uuid)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(caps.expect("capabilities").contains("token_rotation"));
    let key = body["orbit_node_key"]
        .as_str()
        .expect("orbit node key")
        .to_string();

    let (status, caps, config) = orbit(&f, "config", json!({"orbit_node_key": key})).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert!(caps.is_some());
    assert_eq!(
        config["update_channels"],
        json!({"orbit": "stable", "osqueryd": "stable", "desktop": "stable"})
    );
    assert!(config["command_line_startup_flags"].is_object());
    assert!(config["extensions"].is_object());
    assert!(config["notifications"].is_object());

    // Channels and flags come from the agent options (the team's when it has them).
    f.admin(
        "PATCH",
        "/api/v1/fleet/config",
        Some(json!({"agent_options": {"update_channels": {"osqueryd": "edge"}, "command_line_flags": {"verbose": true}}})),
    )
    .await;
    f.advance_secs(6);
    let (_, _, config) = orbit(&f, "config", json!({"orbit_node_key": key})).await;
    assert_eq!(config["update_channels"]["osqueryd"], "edge");
    assert_eq!(config["update_channels"]["orbit"], "stable");
    assert_eq!(config["command_line_startup_flags"]["verbose"], true);

    // Unknown or missing key: Fleet's 401 shape; orbit then deletes its key and enrolls again.
    for body in [json!({"orbit_node_key": "bm9wZQ=="}), json!({})] {
        let (status, caps, answer) = orbit(&f, "config", body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(caps.is_some(), "capabilities on errors too");
        assert_eq!(answer["message"], "Authentication required");
        assert!(answer["errors"][0]["reason"].is_string());
    }
    let (_, _, again) = orbit(&f, "enroll", enroll_body(&f.enroll_secret, uuid)).await;
    let new_key = again["orbit_node_key"].as_str().expect("key").to_string();
    assert_ne!(new_key, key);
    assert_eq!(
        orbit(&f, "config", json!({"orbit_node_key": key})).await.0,
        StatusCode::UNAUTHORIZED,
        "old key revoked"
    );
    assert_eq!(
        orbit(&f, "config", json!({"orbit_node_key": new_key}))
            .await
            .0,
        StatusCode::OK
    );

    // osquery enrolling with the same hardware UUID is the same host, and keeps its own key.
    let mut osquery = f.client(uuid);
    osquery.platform = "darwin";
    assert_eq!(osquery.enroll().await.status, StatusCode::OK);
    assert_eq!(
        orbit(&f, "config", json!({"orbit_node_key": new_key}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        osquery.call_once("/config", json!({})).await.status,
        StatusCode::OK
    );
    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    let hosts = hosts["hosts"].as_array().expect("hosts").clone();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(
        hosts[0]["hardware_serial"], "SER-1",
        "osquery's details, same host"
    );

    // An instance-identified orbit (cloned VM) is its own host.
    let mut clone = enroll_body(&f.enroll_secret, uuid);
    clone["osquery_identifier"] = json!("5f0e9f0a-aaaa-bbbb-cccc-000000000001");
    assert_eq!(orbit(&f, "enroll", clone).await.0, StatusCode::OK);
    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    assert_eq!(hosts["hosts"].as_array().map(Vec::len), Some(2));

    // Ping: no auth, capabilities.
    let response = f
        .http()
        .head(format!("{}/api/fleet/orbit/ping", f.base))
        .send()
        .await
        .expect("ping");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("x-fleet-capabilities")
            .and_then(|v| v.to_str().ok()),
        Some("orbit_endpoints,token_rotation")
    );
}

async fn device_tokens(family: Family) {
    let f = Flotilla::start(family).await;
    let (_, _, a) = orbit(
        &f,
        "enroll",
        enroll_body(&f.enroll_secret, "0D0D0D0D-0000-0000-0000-000000000001"),
    )
    .await;
    let (_, _, b) = orbit(
        &f,
        "enroll",
        enroll_body(&f.enroll_secret, "0D0D0D0D-0000-0000-0000-000000000002"),
    )
    .await;
    let (a, b) = (a["orbit_node_key"].clone(), b["orbit_node_key"].clone());
    let token = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    let (status, _, body) = orbit(
        &f,
        "device_token",
        json!({"orbit_node_key": a, "device_auth_token": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = orbit(
        &f,
        "device_token",
        json!({"orbit_node_key": a, "device_auth_token": token}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({}));
    // Setting it again (the hourly rotation of the same value) is fine; another host can't take it.
    assert_eq!(
        orbit(
            &f,
            "device_token",
            json!({"orbit_node_key": a, "device_auth_token": token})
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, _, body) = orbit(
        &f,
        "device_token",
        json!({"orbit_node_key": b, "device_auth_token": token}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        orbit(
            &f,
            "device_token",
            json!({"orbit_node_key": "nope", "device_auth_token": "t"})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    let store = f.apps[&flotilla::api::Group::Orbit].state();
    let holder = flotilla::domain::orbit::host_for_device_token(store, token)
        .await
        .expect("lookup");
    assert!(holder.is_some());
    // Rotation: the new token works, the old one is gone.
    let rotated = "9a8b7c6d-0000-4000-8000-000000000001";
    assert_eq!(
        orbit(
            &f,
            "device_token",
            json!({"orbit_node_key": a, "device_auth_token": rotated})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        flotilla::domain::orbit::host_for_device_token(store, token)
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        flotilla::domain::orbit::host_for_device_token(store, rotated)
            .await
            .expect("lookup"),
        holder
    );
    // Now free, host b can take the old value; a token expires an hour after it was set.
    assert_eq!(
        orbit(
            &f,
            "device_token",
            json!({"orbit_node_key": b, "device_auth_token": token})
        )
        .await
        .0,
        StatusCode::OK
    );
    f.advance_secs(3601);
    assert_eq!(
        flotilla::domain::orbit::host_for_device_token(store, rotated)
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        orbit(
            &f,
            "device_token",
            json!({"orbit_node_key": a, "device_auth_token": token})
        )
        .await
        .0,
        StatusCode::OK,
        "expired tokens are free again"
    );
}
