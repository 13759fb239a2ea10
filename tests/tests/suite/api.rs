//! The API test suite, run against both adapter families (embedded, and AWS over moto).
//! Each scenario is one async fn taking the family; `both!` makes a test of each.

use flotilla::api::Group;
use flotilla::ports::LogKind;
use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::osquery_client::HostIdentifier;
use reqwest::StatusCode;
use serde_json::{json, Value};

flotilla_tests::both!(
    osquery_session_end_to_end,
    bad_credentials_get_node_invalid,
    teams_secrets_and_agent_options,
    one_host_per_uuid_and_instance_hosts,
    scheduled_queries_become_packs,
    malformed_requests_get_json_4xx,
    nothing_half_written_on_bad_write,
    empty_read_costs_no_store_call_when_warm,
    last_seen_is_throttled,
    admin_requires_token,
    large_campaign_results_round_trip,
    log_sink_failure_is_an_error_osquery_resends,
);

// The same scenarios with a user's session instead of the break-glass token, where the
// permission matrix allows each role what the scenario does.
flotilla_tests::as_role!(
    as_maintainer,
    "maintainer",
    osquery_session_end_to_end,
    one_host_per_uuid_and_instance_hosts,
    nothing_half_written_on_bad_write,
    last_seen_is_throttled,
    large_campaign_results_round_trip,
);
flotilla_tests::as_role!(
    as_observer_plus,
    "observer_plus",
    osquery_session_end_to_end,
    large_campaign_results_round_trip,
);
flotilla_tests::as_role!(
    as_observer,
    "observer",
    one_host_per_uuid_and_instance_hosts,
    last_seen_is_throttled,
);

fn assert_no_error(body: &Value) {
    assert!(
        body.get("error").is_none(),
        "success body has an error key: {body}"
    );
}

/// Enroll, config, vitals, a live query, results, logs, and re-enroll after revocation.
async fn osquery_session_end_to_end(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = f.client("4C4C4544-0042-3510-8052-B7C04F4E3432");
    host.v1_paths = true;
    host.gzip = true;
    let enrolled = host.enroll().await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.body);
    assert_no_error(&enrolled.body);
    let key = host.node_key.clone().expect("node key");
    assert_eq!(
        base64_len(&key),
        24,
        "node keys are 24 random bytes, base64"
    );

    // Config: Fleet's default options, top level.
    let config = host.config().await;
    assert_eq!(config.status, StatusCode::OK);
    assert_no_error(&config.body);
    assert_eq!(config.body["options"]["distributed_interval"], 10);
    assert_eq!(config.body["options"]["pack_delimiter"], "/");
    assert!(config.body["decorators"]["load"].is_array());

    // First read after enroll: every vitals query.
    let first = host.read().await;
    for name in [
        "system_info",
        "os_version",
        "osquery_info",
        "uptime",
        "disk_space_unix",
        "network_interface_unix",
    ] {
        assert!(
            first.contains_key(&format!("fleet_detail_query_{name}")),
            "missing {name}: {first:?}"
        );
    }
    let written = host.answer_details(&first).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.body);
    assert_eq!(written.body, json!({}));
    assert!(host.read().await.is_empty(), "vitals fresh: nothing to ask");

    let (status, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    assert_eq!(status, StatusCode::OK, "{hosts}");
    let listed = hosts["hosts"].as_array().expect("hosts");
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_u64().expect("id");
    let (_, one) = f
        .admin("GET", &format!("/api/v1/fleet/hosts/{id}"), None)
        .await;
    let h = &one["host"];
    assert_eq!(h["uuid"], "4C4C4544-0042-3510-8052-B7C04F4E3432");
    assert_eq!(h["hostname"], format!("{}-vitals", host.hostname));
    assert_eq!(h["os_version"], "Ubuntu 22.04.4 LTS");
    assert_eq!(h["osquery_version"], "5.12.1");
    // Plain osquery: the orbit_info query was offered behind its discovery query, and not run.
    assert!(
        !first.contains_key("fleet_detail_query_orbit_info"),
        "plain osquery skips orbit_info: {first:?}"
    );
    assert_eq!(h["orbit_version"], Value::Null);
    assert_eq!(h["platform"], "ubuntu");
    assert_eq!(h["memory"], 8_589_934_592u64);
    assert_eq!(h["primary_ip"], "192.0.2.7");
    assert_eq!(h["gigs_total_disk_space"], 50.0);
    assert_eq!(h["distributed_interval"], 10);
    assert_eq!(h["config_tls_refresh"], 60);
    assert_eq!(h["logger_tls_period"], 10);
    assert!(h["team_id"].is_null());
    assert!(h["seen_time"].is_string());

    // Vitals older than an hour are asked again.
    f.advance_secs(3601);
    let again = host.read().await;
    assert!(
        again.contains_key("fleet_detail_query_os_version"),
        "{again:?}"
    );
    host.answer_details(&again).await;

    // A live query: visible within the snapshot refresh, asked once.
    let (status, run) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(
                json!({"query": "SELECT pid FROM processes LIMIT 2", "selected": {"hosts": [id]}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let campaign = run["campaign"]["id"].as_u64().expect("campaign id");
    assert_eq!(run["campaign"]["targeted"], 1);
    f.advance_secs(3);
    let name = format!("fleet_distributed_query_{campaign}");
    let read = host.read().await;
    assert_eq!(
        read.get(&name),
        Some(&json!("SELECT pid FROM processes LIMIT 2")),
        "{read:?}"
    );
    assert!(
        host.read().await.is_empty(),
        "a host is asked each campaign once"
    );
    let wrote = host
        .write(
            json!({ &name: [{"pid": "1"}, {"pid": "2"}] }),
            json!({ &name: 0 }),
            json!({}),
        )
        .await;
    assert_eq!(wrote.status, StatusCode::OK, "{}", wrote.body);
    let (_, results) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/campaigns/{campaign}/results"),
            None,
        )
        .await;
    assert_eq!(results["campaign"]["responded"], 1);
    assert_eq!(results["campaign"]["targeted"], 1);
    assert_eq!(
        results["campaign"]["query"],
        "SELECT pid FROM processes LIMIT 2"
    );
    assert_eq!(results["results"][0]["host_id"], id);
    assert_eq!(
        results["results"][0]["rows"],
        json!([{"pid": "1"}, {"pid": "2"}])
    );
    assert!(results["results"][0]["error"].is_null());

    // Logs, gzip, both kinds: stored once each, in order.
    let lines: Vec<Value> = (0..5)
        .map(|i| json!({"name": "pack/Global/procs", "hostIdentifier": host.uuid, "unixTime": 1795424400 + i,
            "counter": i, "columns": {"pid": i.to_string()}, "action": "added", "decorations": {"host_uuid": host.uuid}}))
        .collect();
    let logged = host.log("result", lines.clone()).await;
    assert_eq!(logged.status, StatusCode::OK, "{}", logged.body);
    assert_eq!(logged.body, json!({}));
    let status_line = json!({"severity": "0", "filename": "x.cpp", "line": "7", "message": "hello", "version": "5.12.1"});
    assert_eq!(
        host.log("status", vec![status_line.clone()]).await.status,
        StatusCode::OK
    );
    assert_eq!(f.stored_log_lines(LogKind::Result).await, lines);
    assert_eq!(f.stored_log_lines(LogKind::Status).await, vec![status_line]);
    if family == Family::Embedded {
        let files = f.log_files(LogKind::Result);
        assert_eq!(
            files.len(),
            1,
            "one object per hour, not per request: {files:?}"
        );
        let path = files[0].display().to_string();
        let today = f.clock_date();
        assert!(
            path.contains(&format!("/logs/result/dt={today}/hour=")),
            "{path}"
        );
    }

    // The same machine enrolls again (reinstall): same host, new key, old key revoked.
    let mut reinstalled = f.client(&host.uuid.clone());
    reinstalled.enroll().await;
    assert_ne!(reinstalled.node_key, host.node_key);
    f.advance_secs(3); // every instance sees the revocation within the live refresh
    let stale = host.call_once("/config", json!({})).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stale.body["node_invalid"], true);
    assert!(stale.body["error"].is_string());
    // osquery drops its key and enrolls again, transparently.
    let before = host.enroll_count;
    let config = host.config().await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(host.enroll_count, before + 1);
    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    assert_eq!(
        hosts["hosts"].as_array().map(Vec::len),
        Some(1),
        "still one host"
    );
}

fn base64_len(key: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .map(|b| b.len())
        .unwrap_or(0)
}

async fn bad_credentials_get_node_invalid(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = f.client("11111111-2222-3333-4444-555555555555");
    host.enroll_secret = "not-a-secret".into();
    let answer = host.enroll().await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["node_invalid"], true);
    assert!(answer.body["error"].is_string());

    for endpoint in ["/config", "/distributed/read", "/distributed/write", "/log"] {
        // Missing key.
        let (status, body) = f
            .post_raw(
                &format!("/api/osquery{endpoint}"),
                &[("content-type", "application/json")],
                br#"{"log_type":"result","data":[]}"#.to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{endpoint}: {body}");
        assert_eq!(body["node_invalid"], true);
        // Unknown key, in the body and in the header.
        let (status, body) = f
            .post_raw(
                &format!("/api/v1/osquery{endpoint}"),
                &[],
                br#"{"node_key":"bm90IGEga2V5","log_type":"result","data":[]}"#.to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{endpoint}: {body}");
        assert_eq!(body["node_invalid"], true);
        let (status, _) = f
            .post_raw(
                &format!("/api/osquery{endpoint}"),
                &[("authorization", "NodeKey bm90IGEga2V5")],
                br#"{"log_type":"result","data":[]}"#.to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    // The header form works for a real key.
    let mut host = f.client("11111111-2222-3333-4444-555555555555");
    host.header_auth = true;
    host.enroll().await;
    let config = host.call_once("/config", json!({})).await;
    assert_eq!(config.status, StatusCode::OK, "{}", config.body);
}

async fn teams_secrets_and_agent_options(family: Family) {
    let f = Flotilla::start(family).await;
    let (status, team) = f
        .admin(
            "POST",
            "/api/v1/fleet/teams",
            Some(json!({"name": "Servers"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{team}");
    let team_id = team["team"]["id"].as_u64().expect("team id");
    let (status, dup) = f
        .admin(
            "POST",
            "/api/v1/fleet/teams",
            Some(json!({"name": "servers"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{dup}");

    let (_, secrets) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/teams/{team_id}/secrets"),
            None,
        )
        .await;
    let generated = secrets["secrets"][0]["secret"]
        .as_str()
        .expect("generated team secret")
        .to_string();
    assert_eq!(base64_len(&generated), 24);
    assert_eq!(secrets["secrets"][0]["team_id"], team_id);

    // Replace the team's secrets with a chosen one.
    let (status, replaced) = f
        .admin(
            "PATCH",
            &format!("/api/v1/fleet/teams/{team_id}/secrets"),
            Some(json!({"secrets": [{"secret": "team-secret-1"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["secrets"].as_array().map(Vec::len), Some(1));
    // A secret can't belong to two scopes.
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/spec/enroll_secret",
            Some(json!({"spec": {"secrets": [{"secret": "team-secret-1"}]}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let mut old = f.client("AAAAAAAA-0000-0000-0000-000000000001");
    old.enroll_secret = generated;
    assert_eq!(
        old.enroll().await.status,
        StatusCode::UNAUTHORIZED,
        "replaced secret stops working"
    );

    // Team options replace global ones; a platform override replaces config.
    let (status, _) = f
        .admin(
            "POST",
            &format!("/api/v1/fleet/teams/{team_id}/agent_options"),
            Some(json!({
                "config": {"options": {"distributed_interval": 30}},
                "overrides": {"platforms": {"darwin": {"options": {"distributed_interval": 60}}}}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f
        .admin(
            "POST",
            &format!("/api/v1/fleet/teams/{team_id}/agent_options"),
            Some(json!({"config": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let mut linux = f.client("AAAAAAAA-0000-0000-0000-000000000002");
    linux.enroll_secret = "team-secret-1".into();
    assert_eq!(linux.enroll().await.status, StatusCode::OK);
    let mut mac = f.client("AAAAAAAA-0000-0000-0000-000000000003");
    mac.enroll_secret = "team-secret-1".into();
    mac.platform = "darwin";
    assert_eq!(mac.enroll().await.status, StatusCode::OK);
    let mut global = f.client("AAAAAAAA-0000-0000-0000-000000000004");
    global.enroll().await;

    f.advance_secs(6); // config cache
    assert_eq!(
        linux.config().await.body["options"]["distributed_interval"],
        30
    );
    assert_eq!(
        mac.config().await.body["options"]["distributed_interval"],
        60
    );
    assert_eq!(
        global.config().await.body["options"]["distributed_interval"],
        10
    );

    // Global options change: the global host sees it, the team host does not.
    let (status, patched) = f
        .admin(
            "PATCH",
            "/api/v1/fleet/config",
            Some(json!({"agent_options": {"config": {"options": {"distributed_interval": 15}}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["agent_options"]["config"]["options"]["distributed_interval"],
        15
    );
    let (_, got) = f.admin("GET", "/api/v1/fleet/config", None).await;
    assert_eq!(
        got["agent_options"]["config"]["options"]["distributed_interval"],
        15
    );
    f.advance_secs(6);
    assert_eq!(
        global.config().await.body["options"]["distributed_interval"],
        15
    );
    assert_eq!(
        linux.config().await.body["options"]["distributed_interval"],
        30
    );

    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    let teams: Vec<Value> = hosts["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["team_id"].clone())
        .collect();
    assert_eq!(teams.iter().filter(|t| **t == json!(team_id)).count(), 2);

    // Global secrets: listed, replaced, generated when not given.
    let (_, spec) = f
        .admin("GET", "/api/v1/fleet/spec/enroll_secret", None)
        .await;
    assert_eq!(
        spec["spec"]["secrets"][0]["secret"],
        f.enroll_secret.as_str()
    );
    let (status, spec) = f
        .admin(
            "POST",
            "/api/v1/fleet/spec/enroll_secret",
            Some(json!({"spec": {"secrets": [{"secret": f.enroll_secret}, {}]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{spec}");
    assert_eq!(spec["spec"]["secrets"].as_array().map(Vec::len), Some(2));

    // A live query for the team reaches only its hosts.
    let (_, run) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": "SELECT 1", "selected": {"teams": [team_id]}})),
        )
        .await;
    assert_eq!(run["campaign"]["targeted"], 2);
    f.advance_secs(3);
    let name = format!("fleet_distributed_query_{}", run["campaign"]["id"]);
    assert!(linux.read().await.contains_key(&name));
    assert!(mac.read().await.contains_key(&name));
    assert!(!global.read().await.contains_key(&name));
}

async fn one_host_per_uuid_and_instance_hosts(family: Family) {
    let f = Flotilla::start(family).await;
    let uuid = "BBBBBBBB-0000-0000-0000-000000000001";
    let mut a = f.client(uuid);
    let mut b = f.client(&uuid.to_lowercase()); // same machine, reinstalled osquery
    a.enroll().await;
    b.enroll().await;
    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    assert_eq!(hosts["hosts"].as_array().map(Vec::len), Some(1), "{hosts}");

    // Two clones of a VM share a hardware UUID; with --host_identifier=instance they are two hosts.
    let clone = "CCCCCCCC-0000-0000-0000-000000000001";
    let mut c1 = f.client(clone);
    c1.identifier = HostIdentifier::Instance;
    let mut c2 = f.client(clone);
    c2.identifier = HostIdentifier::Instance;
    assert_eq!(c1.enroll().await.status, StatusCode::OK);
    assert_eq!(c2.enroll().await.status, StatusCode::OK);
    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    assert_eq!(hosts["hosts"].as_array().map(Vec::len), Some(3), "{hosts}");
    // Both clones keep working side by side.
    f.advance_secs(3);
    assert_eq!(
        c1.call_once("/config", json!({})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        c2.call_once("/config", json!({})).await.status,
        StatusCode::OK
    );

    // Paging.
    let (_, page) = f
        .admin("GET", "/api/v1/fleet/hosts?page=1&per_page=2", None)
        .await;
    assert_eq!(page["hosts"].as_array().map(Vec::len), Some(1));
    let (status, _) = f.admin("GET", "/api/v1/fleet/hosts?page=-1", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f.admin("GET", "/api/v1/fleet/hosts/999999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f.admin("GET", "/api/v1/fleet/hosts/abc", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn scheduled_queries_become_packs(family: Family) {
    let f = Flotilla::start(family).await;
    let (_, team) = f
        .admin(
            "POST",
            "/api/v1/fleet/teams",
            Some(json!({"name": "Laptops"})),
        )
        .await;
    let team_id = team["team"]["id"].as_u64().expect("team");
    let (status, q) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "procs", "query": "SELECT * FROM processes", "interval": 300})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{q}");
    f.admin("POST", "/api/v1/fleet/queries", Some(json!({"name": "usb", "query": "SELECT * FROM usb_devices", "interval": 60, "team_id": team_id, "logging": "snapshot"}))).await;
    f.admin(
        "POST",
        "/api/v1/fleet/queries",
        Some(json!({"name": "saved", "query": "SELECT 1", "interval": 0})),
    )
    .await;
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "procs", "query": "SELECT 2", "interval": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "x", "query": "SELECT 2", "interval": "often"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, secrets) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/teams/{team_id}/secrets"),
            None,
        )
        .await;
    let mut member = f.client("DDDDDDDD-0000-0000-0000-000000000001");
    member.enroll_secret = secrets["secrets"][0]["secret"]
        .as_str()
        .expect("secret")
        .into();
    let mut other = f.client("DDDDDDDD-0000-0000-0000-000000000002");
    f.advance_secs(6);
    let config = member.config().await.body;
    assert_eq!(
        config["packs"]["Global"]["queries"]["procs"]["interval"],
        300
    );
    assert_eq!(
        config["packs"][format!("team-{team_id}")]["queries"]["usb"]["snapshot"],
        true
    );
    assert!(
        config["packs"]["Global"]["queries"].get("saved").is_none(),
        "interval 0 is not scheduled"
    );
    let config = other.config().await.body;
    assert!(config["packs"].get(format!("team-{team_id}")).is_none());

    let id = q["query"]["id"].as_u64().expect("id");
    assert_eq!(
        f.admin("DELETE", &format!("/api/v1/fleet/queries/{id}"), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        f.admin("DELETE", &format!("/api/v1/fleet/queries/{id}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    f.advance_secs(6);
    let config = other.config().await.body;
    assert!(
        config.get("packs").is_none()
            || config["packs"]["Global"]["queries"].get("procs").is_none(),
        "{config}"
    );
}

async fn malformed_requests_get_json_4xx(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = f.client("EEEEEEEE-0000-0000-0000-000000000001");
    host.enroll().await;
    let key = host.node_key.clone().expect("key");
    let json_ct = ("content-type", "application/json");

    let cases: Vec<RawCase> = vec![
        (
            "/api/osquery/enroll",
            vec![json_ct],
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/osquery/enroll",
            vec![json_ct],
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/osquery/enroll",
            vec![json_ct],
            br#"{"enroll_secret": 5}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/osquery/enroll",
            vec![json_ct],
            br#"{"host_identifier": "x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/osquery/enroll",
            vec![json_ct, ("content-encoding", "gzip")],
            b"\x1f\x8bnot really gzip".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/osquery/enroll",
            vec![json_ct, ("content-encoding", "br")],
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (path, headers, body, expected) in cases {
        let (status, answer) = f.post_raw(path, &headers, body.clone()).await;
        assert_eq!(
            status,
            expected,
            "{path} {:?}: {answer}",
            String::from_utf8_lossy(&body)
        );
        assert!(answer["error"].is_string(), "{answer}");
    }

    // Malformed requests with a valid node key: 400, never 401 (a 401 makes osquery drop its key).
    let with_key = |extra: &str| format!(r#"{{"node_key": "{key}"{extra}}}"#).into_bytes();
    let keyed: Vec<(&str, Vec<u8>)> = vec![
        (
            "/api/osquery/log",
            with_key(r#", "log_type": "result", "data": {"not": "an array"}"#),
        ),
        (
            "/api/osquery/log",
            with_key(r#", "log_type": "verbose", "data": []"#),
        ),
        ("/api/osquery/log", with_key(r#", "data": []"#)),
        (
            "/api/osquery/log",
            with_key(r#", "log_type": "result", "data": [1, 2]"#),
        ),
        (
            "/api/osquery/distributed/write",
            with_key(r#", "queries": []"#),
        ),
        (
            "/api/osquery/distributed/write",
            with_key(r#", "queries": {"q": 5}"#),
        ),
        (
            "/api/osquery/distributed/write",
            with_key(r#", "queries": {"q": [1]}"#),
        ),
        (
            "/api/osquery/distributed/write",
            with_key(r#", "statuses": {"q": "zero"}"#),
        ),
        (
            "/api/osquery/distributed/write",
            with_key(r#", "messages": {"q": 3}"#),
        ),
    ];
    for (path, body) in keyed {
        let (status, answer) = f.post_raw(path, &[json_ct], body.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{path} {}: {answer}",
            String::from_utf8_lossy(&body)
        );
        assert!(answer["error"].is_string());
        assert!(answer.get("node_invalid").is_none());
    }
    // ... and the key still works afterwards.
    assert_eq!(
        host.call_once("/config", json!({})).await.status,
        StatusCode::OK
    );

    // Bodies over Lambda's 6 MB: refused with 413 from the declared length, before a byte
    // of the body is sent...
    let head = format!(
        "POST /api/osquery/log HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        6 * 1024 * 1024 + 1
    );
    let answer = raw_exchange(&f.base, head.as_bytes(), &[]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    // ... and without one (chunked), after reading no more than the limit.
    let head = "POST /api/osquery/log HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut chunk = format!("{:x}\r\n", 1024 * 1024).into_bytes();
    chunk.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    chunk.extend_from_slice(b"\r\n");
    let answer = raw_exchange(&f.base, head.as_bytes(), &vec![chunk; 7]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A gzip body that expands past the bound: 413, decoded as a stream.
    let mut bomb_source = vec![b' '; 40 * 1024 * 1024];
    bomb_source.extend_from_slice(format!(r#"{{"node_key": "{key}"}}"#).as_bytes());
    let bomb = gzip(&bomb_source);
    let (status, answer) = f
        .post_raw(
            "/api/osquery/log",
            &[json_ct, ("content-encoding", "gzip")],
            bomb,
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");

    // Unknown paths and methods: JSON errors.
    let (status, answer) = f.post_raw("/api/osquery/nope", &[], b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    if family == Family::Embedded {
        assert!(answer["error"].is_string());
        let response = f
            .http()
            .get(format!("{}/api/osquery/config", f.base))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body: Value = response.json().await.expect("json 405");
        assert!(body["error"].is_string());
    }
    // Admin: wrong types and unknown fields.
    let (status, answer) = f
        .admin("POST", "/api/v1/fleet/teams", Some(json!({"name": 7})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, _) = f
        .admin(
            "PATCH",
            "/api/v1/fleet/config",
            Some(json!({"agent_options": {"bogus": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": "SELECT 1", "selected": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": "", "selected": {"all": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .admin("GET", "/api/v1/fleet/campaigns/424242/results", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A path, its headers, a body and the status it must get.
type RawCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    StatusCode,
);

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// A write whose second part is invalid stores nothing, including its valid first part;
/// and an answer to a campaign the host was not asked is ignored.
async fn nothing_half_written_on_bad_write(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = f.client("FFFFFFFF-0000-0000-0000-000000000001");
    host.enroll().await;
    let details = host.read().await;
    host.answer_details(&details).await;
    let (_, run) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": "SELECT 1", "selected": {"all": true}})),
        )
        .await;
    let campaign = run["campaign"]["id"].as_u64().expect("id");
    let name = format!("fleet_distributed_query_{campaign}");
    f.advance_secs(3);
    assert!(host.read().await.contains_key(&name));

    let bad = host
        .write(
            json!({ &name: [{"a": "1"}], "fleet_distributed_query_99999": [7] }),
            json!({}),
            json!({}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let (_, results) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/campaigns/{campaign}/results"),
            None,
        )
        .await;
    assert_eq!(
        results["results"],
        json!([]),
        "nothing stored from a refused write"
    );

    // Answers to a campaign never handed to this host are ignored, not stored.
    let (_, other) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": "SELECT 2", "selected": {"hosts": [987654]}})),
        )
        .await;
    let other_id = other["campaign"]["id"].as_u64().expect("id");
    let other_name = format!("fleet_distributed_query_{other_id}");
    let sneaky = host
        .write(json!({ &other_name: [{"x": "1"}] }), json!({}), json!({}))
        .await;
    assert_eq!(sneaky.status, StatusCode::OK);
    let (_, results) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/campaigns/{other_id}/results"),
            None,
        )
        .await;
    assert_eq!(results["results"], json!([]));

    // The retry of the good part is stored, with a failure reported as an error.
    let ok = host
        .write(
            json!({ &name: "" }),
            json!({ &name: 1 }),
            json!({ &name: "no such table: x" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let (_, results) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/campaigns/{campaign}/results"),
            None,
        )
        .await;
    assert_eq!(results["results"][0]["error"], "no such table: x");
    assert_eq!(results["results"][0]["rows"], json!([]));
}

async fn empty_read_costs_no_store_call_when_warm(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = f.client("12121212-0000-0000-0000-000000000001");
    host.enroll().await;
    let details = host.read().await;
    host.answer_details(&details).await;
    assert!(host.read().await.is_empty());
    let before = f.store_calls(Group::Distributed);
    for _ in 0..50 {
        assert!(host.read().await.is_empty());
    }
    assert_eq!(
        f.store_calls(Group::Distributed) - before,
        0,
        "warm empty reads touch no store"
    );
    // After the live refresh interval, one query refreshes the snapshot for every host.
    f.advance_secs(3);
    let before = f.store_calls(Group::Distributed);
    for _ in 0..20 {
        assert!(host.read().await.is_empty());
    }
    assert_eq!(f.store_calls(Group::Distributed) - before, 1);
}

async fn last_seen_is_throttled(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = f.client("13131313-0000-0000-0000-000000000001");
    host.enroll().await;
    host.config().await; // first request: seen written once
    let (_, h) = f.admin("GET", "/api/v1/fleet/hosts/1", None).await;
    let first_seen = h["host"]["seen_time"].clone();
    let before = f.store_calls(Group::Config);
    for _ in 0..20 {
        f.advance_secs(10);
        host.config().await;
    }
    // 200 s in: no seen write, and config itself is cached (one refresh per 5 s at most).
    let calls = f.store_calls(Group::Config) - before;
    assert!(calls <= 3 * 20, "config calls bounded: {calls}");
    let (_, h) = f.admin("GET", "/api/v1/fleet/hosts/1", None).await;
    assert_eq!(
        h["host"]["seen_time"], first_seen,
        "not written within 5 minutes"
    );
    f.advance_secs(120);
    host.config().await;
    let (_, h) = f.admin("GET", "/api/v1/fleet/hosts/1", None).await;
    assert_ne!(
        h["host"]["seen_time"], first_seen,
        "written after 5 minutes"
    );
    assert_eq!(h["host"]["status"], "online");
}

async fn admin_requires_token(family: Family) {
    let f = Flotilla::start(family).await;
    for token in [None, Some("wrong"), Some("")] {
        let (status, body) = f.admin_as(token, "GET", "/api/v1/fleet/hosts", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(body["message"].is_string() && body["error"].is_string());
    }
    let (status, health) = f.admin_as(None, "GET", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
}

async fn large_campaign_results_round_trip(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = f.client("14141414-0000-0000-0000-000000000001");
    host.enroll().await;
    let (_, run) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": "SELECT * FROM file", "selected": {"all": true}})),
        )
        .await;
    let campaign = run["campaign"]["id"].as_u64().expect("id");
    let name = format!("fleet_distributed_query_{campaign}");
    f.advance_secs(3);
    assert!(host.read().await.contains_key(&name));
    // ~1 MB of rows: over DynamoDB's item limit, so the rows go to the blob store.
    let rows: Vec<Value> = (0..4000)
        .map(
            |i| json!({"path": format!("/var/lib/{i}/{}", "x".repeat(200)), "size": i.to_string()}),
        )
        .collect();
    let wrote = host
        .write(json!({ &name: rows }), json!({ &name: 0 }), json!({}))
        .await;
    assert_eq!(wrote.status, StatusCode::OK, "{}", wrote.body);
    let (_, results) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/campaigns/{campaign}/results"),
            None,
        )
        .await;
    assert_eq!(
        results["results"][0]["rows"].as_array().map(Vec::len),
        Some(4000)
    );
    assert_eq!(results["results"][0]["rows"][3999]["size"], "3999");
}

async fn log_sink_failure_is_an_error_osquery_resends(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = f.client("15151515-0000-0000-0000-000000000001");
    host.enroll().await;
    // Break the sink for real: locally the logs directory becomes a file; on AWS the
    // delivery stream is deleted.
    match family {
        Family::Embedded => {
            let logs = f.data_dir.as_ref().expect("dir").path().join("logs");
            let _ = std::fs::remove_dir_all(&logs);
            std::fs::write(&logs, b"not a directory").expect("block logs dir");
        }
        Family::Moto => {
            let (sdk, names) = f.aws.as_ref().expect("aws");
            aws_sdk_firehose::Client::new(sdk)
                .delete_delivery_stream()
                .delivery_stream_name(&names.result_stream)
                .send()
                .await
                .expect("delete stream");
        }
    }
    let answer = host
        .log("result", vec![json!({"name": "q", "columns": {"a": "1"}})])
        .await;
    assert!(!answer.status.is_success(), "{}", answer.status);
    assert!(
        answer.body["error"].is_string(),
        "osquery needs an error key to keep the lines"
    );
    assert!(answer.body.get("node_invalid").is_none());
}

/// Sends `head` then `chunks` (stopping quietly if the server stops reading) and returns what
/// the server answered.
async fn raw_exchange(base: &str, head: &[u8], chunks: &[Vec<u8>]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head).await.expect("head");
    for chunk in chunks {
        if stream.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf)).await
        {
            Ok(Ok(n)) if n > 0 => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}
