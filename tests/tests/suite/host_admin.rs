//! Admin changes to hosts on both adapter families: `DELETE /api/v1/fleet/hosts/{id}` (the
//! host's keys stop working, it enrolls again as a new host, nothing of it is left) and
//! `POST /api/v1/fleet/hosts/transfer` (the host gets its new team's config and live queries).

use reqwest::StatusCode;
use serde_json::{json, Value};

use flotilla::api::Group;
use flotilla::domain::credentials::sha256_hex;
use flotilla::domain::layout;
use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::osquery_client::OsqueryClient;

flotilla_tests::both!(
    deleted_hosts_lose_their_keys_and_enroll_again,
    transferred_hosts_follow_their_new_team
);

async fn host_id(f: &Flotilla, uuid: &str) -> u64 {
    let (_, hosts) = f
        .admin("GET", "/api/v1/fleet/hosts?per_page=500", None)
        .await;
    hosts["hosts"]
        .as_array()
        .and_then(|hosts| {
            hosts.iter().find(|h| {
                h["uuid"]
                    .as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(uuid))
            })
        })
        .and_then(|h| h["id"].as_u64())
        .expect("host listed")
}

async fn team(f: &Flotilla, name: &str, interval: u64) -> (u64, String) {
    let (_, created) = f
        .admin("POST", "/api/v1/fleet/teams", Some(json!({"name": name})))
        .await;
    let id = created["team"]["id"].as_u64().expect("team id");
    let (status, _) = f
        .admin(
            "POST",
            &format!("/api/v1/fleet/teams/{id}/agent_options"),
            Some(json!({"config": {"options": {"distributed_interval": interval}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, secrets) = f
        .admin("GET", &format!("/api/v1/fleet/teams/{id}/secrets"), None)
        .await;
    (
        id,
        secrets["secrets"][0]["secret"]
            .as_str()
            .expect("secret")
            .to_string(),
    )
}

async fn deleted_hosts_lose_their_keys_and_enroll_again(family: Family) {
    let f = Flotilla::start(family).await;
    let uuid = "DE1E7ED0-0000-0000-0000-000000000001";
    let mut host = f.client(uuid);
    assert_eq!(host.enroll().await.status, StatusCode::OK);
    let key = host.node_key.clone().expect("node key");
    let id = host_id(&f, uuid).await;
    let mut other = f.client("DE1E7ED0-0000-0000-0000-000000000002");
    other.enroll().await;

    let (status, _) = f
        .admin("DELETE", &format!("/api/v1/fleet/hosts/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f
        .admin("GET", &format!("/api/v1/fleet/hosts/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f
        .admin("DELETE", &format!("/api/v1/fleet/hosts/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted once");
    let store = f.apps[&Group::Admin].state();
    for key in [
        layout::node_key(&sha256_hex(&key)),
        layout::host(id),
        layout::host_identity(&format!("uuid:{uuid}")),
    ] {
        assert!(
            store.get(&key).await.expect("store").is_none(),
            "{key:?} is left"
        );
    }

    // Within the live snapshot's 2 s every instance forgets the key: osquery enrolls again.
    f.advance_secs(3);
    let config = host.call_once("/config", json!({})).await;
    assert_eq!(config.status, StatusCode::UNAUTHORIZED, "{}", config.body);
    assert_eq!(config.body["node_invalid"], true);
    assert_eq!(host.enroll().await.status, StatusCode::OK);
    let new_id = host_id(&f, uuid).await;
    assert_ne!(new_id, id, "a new host");
    // The other host is untouched.
    assert_eq!(other.config().await.status, StatusCode::OK);

    let (_, log) = f
        .admin("GET", "/api/v1/fleet/activities?type=deleted_host", None)
        .await;
    assert_eq!(log["activities"][0]["details"]["host_id"], id, "{log}");
}

async fn transferred_hosts_follow_their_new_team(family: Family) {
    let f = Flotilla::start(family).await;
    let (blue, blue_secret) = team(&f, "Blue", 21).await;
    let (green, _) = team(&f, "Green", 42).await;
    let uuid = "7EA0B1E0-0000-0000-0000-000000000001";
    let mut host = OsqueryClient::new(&f.base, &blue_secret, uuid);
    assert_eq!(host.enroll().await.status, StatusCode::OK);
    let id = host_id(&f, uuid).await;
    let interval = |config: &Value| config["options"]["distributed_interval"].clone();
    assert_eq!(interval(&host.config().await.body), 21);

    // Refused requests move nothing.
    for (body, expected) in [
        (
            json!({"team_id": green, "hosts": []}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"team_id": 999, "hosts": [id]}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"team_id": green, "hosts": [id, 424242]}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"team_id": green}), StatusCode::BAD_REQUEST),
    ] {
        let (status, answer) = f
            .admin("POST", "/api/v1/fleet/hosts/transfer", Some(body.clone()))
            .await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let (_, got) = f
        .admin("GET", &format!("/api/v1/fleet/hosts/{id}"), None)
        .await;
    assert_eq!(got["host"]["team_id"], blue);
    // A maintainer of Blue only may not move hosts into Green.
    let blue_maintainer = f.user(None, &[(blue, "maintainer")]).await;
    let (status, _) = f
        .admin_as(
            Some(&blue_maintainer.token),
            "POST",
            "/api/v1/fleet/hosts/transfer",
            Some(json!({"team_id": green, "hosts": [id]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, answer) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/transfer",
            Some(json!({"team_id": green, "hosts": [id, id]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, got) = f
        .admin("GET", &format!("/api/v1/fleet/hosts/{id}"), None)
        .await;
    assert_eq!(got["host"]["team_id"], green);
    f.advance_secs(3);
    assert_eq!(
        interval(&host.config().await.body),
        42,
        "Green's options within seconds"
    );
    // A live query of Green reaches it.
    let (_, run) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": "SELECT 1", "selected": {"teams": [green]}})),
        )
        .await;
    let campaign = run["campaign"]["id"].as_u64().expect("campaign");
    f.advance_secs(3);
    assert!(host
        .read()
        .await
        .contains_key(&format!("fleet_distributed_query_{campaign}")));
    // And to no team: the global options.
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/transfer",
            Some(json!({"team_id": null, "hosts": [id]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    f.advance_secs(3);
    assert_eq!(interval(&host.config().await.body), 10, "Fleet's default");
    let (_, log) = f
        .admin(
            "GET",
            "/api/v1/fleet/activities?type=transferred_hosts",
            None,
        )
        .await;
    assert_eq!(log["activities"].as_array().map(Vec::len), Some(2), "{log}");
}
