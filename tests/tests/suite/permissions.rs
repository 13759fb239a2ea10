//! The permission matrix: every admin route of the route table, called by the break-glass
//! token and by a user of each role, globally and on team 1, on both adapter families. The
//! expected matrix below is written out by hand, apart from the code's permission table, and
//! must name every API route that is not open: a new route without a line here fails the test
//! (the admin UI's pages have their own matrix in page_permissions.rs).
//! Team roles are also checked against team 2's and unteamed resources, and listings against
//! what each role may see.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

use flotilla::api::routes::Access;
use flotilla_tests::harness::{Family, Flotilla, Setup};
use flotilla_tests::osquery_client::OsqueryClient;
use flotilla_web::route_table;

flotilla_tests::both!(every_route_against_every_role);

/// The callers, in the order of the matrix's columns.
const CALLERS: [(&str, Option<&str>, bool); 9] = [
    ("break-glass", None, false),
    ("admin", Some("admin"), false),
    ("maintainer", Some("maintainer"), false),
    ("observer_plus", Some("observer_plus"), false),
    ("observer", Some("observer"), false),
    ("team admin", Some("admin"), true),
    ("team maintainer", Some("maintainer"), true),
    ("team observer_plus", Some("observer_plus"), true),
    ("team observer", Some("observer"), true),
];

/// Y: allowed (2xx); N: 403; F: allowed, filtered to the caller's teams (checked below);
/// B: the break-glass token has no password to change (400); H: hidden, the same 404 as a
/// missing resource (another team's host).
/// Columns: break-glass, admin, maintainer, observer_plus, observer, then the same on team 1.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/fleet/me", "YYYYYYYYY"),
    ("POST", "/api/v1/fleet/change_password", "BYYYYYYYY"),
    ("GET", "/api/v1/fleet/users", "YYNNNNNNN"),
    ("POST", "/api/v1/fleet/users/admin", "YYNNNNNNN"),
    ("GET", "/api/v1/fleet/users/{id}", "YYNNNNNNN"),
    ("PATCH", "/api/v1/fleet/users/{id}", "YYNNNNNNN"),
    ("DELETE", "/api/v1/fleet/users/{id}", "YYNNNNNNN"),
    (
        "POST",
        "/api/v1/fleet/users/{id}/require_password_reset",
        "YYNNNNNNN",
    ),
    ("POST", "/api/v1/fleet/users/{id}/api_token", "YYNNNNNNN"),
    ("GET", "/api/v1/fleet/activities", "YYYYYNNNN"),
    ("GET", "/api/v1/fleet/sso/settings", "YYNNNNNNN"),
    ("PATCH", "/api/v1/fleet/sso/settings", "YYNNNNNNN"),
    ("GET", "/api/v1/fleet/spec/enroll_secret", "YYYNNNNNN"),
    ("POST", "/api/v1/fleet/spec/enroll_secret", "YYYNNNNNN"),
    ("GET", "/api/v1/fleet/teams", "YYYYYFFFF"),
    ("POST", "/api/v1/fleet/teams", "YYNNNNNNN"),
    ("PATCH", "/api/v1/fleet/teams/{id}", "YYNNNYNNN"),
    ("DELETE", "/api/v1/fleet/teams/{id}", "YYNNNNNNN"),
    ("GET", "/api/v1/fleet/teams/{id}/secrets", "YYYNNYYNN"),
    ("PATCH", "/api/v1/fleet/teams/{id}/secrets", "YYYNNYYNN"),
    (
        "POST",
        "/api/v1/fleet/teams/{id}/agent_options",
        "YYNNNYNNN",
    ),
    ("GET", "/api/v1/fleet/config", "YYYYYYYYY"),
    ("PATCH", "/api/v1/fleet/config", "YYNNNNNNN"),
    ("GET", "/api/v1/fleet/hosts", "YYYYYFFFF"),
    ("GET", "/api/v1/fleet/hosts/{id}", "YYYYYYYYY"),
    ("DELETE", "/api/v1/fleet/hosts/{id}", "YYYNNYYNN"),
    ("POST", "/api/v1/fleet/hosts/transfer", "YYYNNYYNN"),
    ("GET", "/api/v1/fleet/hosts/count", "YYYYYYYYY"),
    ("GET", "/api/v1/fleet/hosts/report", "YYYYYYYYY"),
    ("GET", "/api/v1/fleet/host_summary", "YYYYYYYYY"),
    ("POST", "/api/v1/fleet/hosts/delete", "YYYNNYYNN"),
    ("POST", "/api/v1/fleet/hosts/transfer/filter", "YYYNNYYNN"),
    ("POST", "/api/v1/fleet/hosts/{id}/query", "YYYYNYYYN"),
    ("POST", "/api/v1/fleet/hosts/{id}/refetch", "YYYYYYYYY"),
    ("GET", "/api/v1/fleet/queries", "YYYYYFFFF"),
    ("POST", "/api/v1/fleet/queries", "YYYNNYYNN"),
    ("PATCH", "/api/v1/fleet/queries/{id}", "YYYNNYYNN"),
    ("DELETE", "/api/v1/fleet/queries/{id}", "YYYNNYYNN"),
    ("POST", "/api/v1/fleet/queries/run", "YYYYNYYYN"),
    ("GET", "/api/v1/fleet/campaigns/{id}/results", "YYYYYFFFF"),
    ("GET", "/api/v1/fleet/campaigns", "YYYYYFFFF"),
    ("GET", "/api/v1/fleet/campaigns/{id}", "YYYYYYYYY"),
    ("GET", "/api/v1/fleet/campaigns/{id}/errors", "YYYYYYYYY"),
    // A fresh team-1 campaign of the break-glass token's: whoever may run SQL on team 1 may
    // stop it; observers may not (not theirs, and they cannot run SQL).
    ("POST", "/api/v1/fleet/campaigns/{id}/stop", "YYYYNYYYN"),
    ("POST", "/api/v1/fleet/campaigns/{id}/export", "YYYYYYYYY"),
    ("GET", "/api/v1/fleet/campaigns/{id}/export", "YYYYYYYYY"),
    (
        "GET",
        "/api/v1/fleet/campaigns/{id}/export/download",
        "YYYYYYYYY",
    ),
    ("GET", "/api/v1/fleet/carves", "YYYNNFFNN"),
    ("GET", "/api/v1/fleet/carves/{id}", "YYYNNYYNN"),
    (
        "GET",
        "/api/v1/fleet/carves/{id}/block/{block_id}",
        "YYYNNYYNN",
    ),
    ("GET", "/api/v1/fleet/carves/{id}/download", "YYYNNYYNN"),
    // Last: it ends the caller's session.
    ("POST", "/api/v1/fleet/logout", "YYYYYYYYY"),
];

/// Team-scoped resources outside team 1: globals may, team roles may not.
/// Columns as above.
const OUTSIDE_TEAM_1: &[(&str, &str, &str)] = &[
    ("GET host of team 2", "host2", "YYYYYNNNN"),
    ("GET host of no team", "host0", "YYYYYNNNN"),
    ("GET team 2's secrets", "team2-secrets", "YYYNNNNNN"),
    ("set team 2's agent options", "team2-options", "YYNNNNNNN"),
    ("rename team 2", "team2-rename", "YYNNNNNNN"),
    ("save a query in team 2", "team2-query", "YYYNNNNNN"),
    ("save a global query", "global-query", "YYYNNNNNN"),
    ("edit a global query", "edit-global-query", "YYYNNNNNN"),
    ("run SQL on a team 2 host", "run-host2", "YYYYNNNNN"),
    (
        "run an observer_can_run query",
        "run-observer-query",
        "YYYYYYYYY",
    ),
    (
        "run a saved query not for observers",
        "run-other-query",
        "YYYYNYYYN",
    ),
    ("GET the carve of a team 2 host", "carve2", "YYYNNNNNN"),
    (
        "move a team 2 host to team 1",
        "transfer-from-team2",
        "YYYNNNNNN",
    ),
    (
        "move a team 1 host out of any team",
        "transfer-to-no-team",
        "YYYNNNNNN",
    ),
    ("delete a team 2 host", "delete-host2", "YYYNNNNNN"),
    ("run SQL on one team 2 host", "query-host2", "YYYYNHHHN"),
    ("refetch a team 2 host", "refetch-host2", "YYYYYHHHH"),
];

struct World {
    team1: u64,
    /// The teams' enroll secrets, for hosts made per request.
    secret1: String,
    secret2: String,
    team2: u64,
    /// Hosts in team 1, team 2 and no team.
    host1: u64,
    host2: u64,
    host0: u64,
    observer_query: u64,
    other_query: u64,
    campaign: u64,
    carve1: u64,
    carve2: u64,
}

async fn enroll(f: &Flotilla, secret: &str, uuid: &str) -> (OsqueryClient, u64) {
    let mut host = OsqueryClient::new(&f.base, secret, uuid);
    let enrolled = host.enroll().await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.body);
    let (_, hosts) = f
        .admin_as(
            Some(&f.break_glass),
            "GET",
            "/api/v1/fleet/hosts?per_page=500",
            None,
        )
        .await;
    let id = hosts["hosts"]
        .as_array()
        .and_then(|hosts| {
            hosts.iter().find(|h| {
                h["uuid"]
                    .as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(uuid))
            })
        })
        .and_then(|h| h["id"].as_u64())
        .expect("enrolled host listed");
    (host, id)
}

async fn team_secret(f: &Flotilla, team: u64) -> String {
    let secrets = f
        .break_glass_ok("GET", &format!("/api/v1/fleet/teams/{team}/secrets"), None)
        .await;
    secrets["secrets"][0]["secret"]
        .as_str()
        .expect("team secret")
        .to_string()
}

async fn carve(f: &Flotilla, host: &mut OsqueryClient, request_id: &str) -> u64 {
    host.carve(&[7u8; 3000], 1024, request_id).await;
    f.run_jobs().await;
    let carves = f.break_glass_ok("GET", "/api/v1/fleet/carves", None).await;
    carves["carves"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["request_id"] == request_id))
        .and_then(|c| c["id"].as_u64())
        .expect("carve listed")
}

async fn build_world(f: &Flotilla) -> World {
    let team1 = f
        .break_glass_ok("POST", "/api/v1/fleet/teams", Some(json!({"name": "One"})))
        .await["team"]["id"]
        .as_u64()
        .expect("id");
    let team2 = f
        .break_glass_ok("POST", "/api/v1/fleet/teams", Some(json!({"name": "Two"})))
        .await["team"]["id"]
        .as_u64()
        .expect("id");
    let (mut h1, host1) = enroll(
        f,
        &team_secret(f, team1).await,
        "11111111-0000-0000-0000-000000000001",
    )
    .await;
    let (mut h2, host2) = enroll(
        f,
        &team_secret(f, team2).await,
        "22222222-0000-0000-0000-000000000002",
    )
    .await;
    let (_, host0) = enroll(f, &f.enroll_secret, "00000000-0000-0000-0000-000000000003").await;
    let query = |name: &str, team: Option<u64>, observer_can_run: bool| json!({"name": name, "query": "SELECT 1", "team_id": team, "observer_can_run": observer_can_run});
    let observer_query = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries",
            Some(query("for observers", None, true)),
        )
        .await["query"]["id"]
        .as_u64()
        .expect("id");
    let other_query = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries",
            Some(query("not for observers", None, false)),
        )
        .await["query"]["id"]
        .as_u64()
        .expect("id");
    f.break_glass_ok(
        "POST",
        "/api/v1/fleet/queries",
        Some(query("team two's", Some(team2), false)),
    )
    .await;
    f.break_glass_ok(
        "POST",
        "/api/v1/fleet/queries",
        Some(query("team one's", Some(team1), false)),
    )
    .await;
    // A campaign both teamed hosts answered.
    let run = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": "SELECT 2", "selected": {"all": true}})),
        )
        .await;
    let campaign = run["campaign"]["id"].as_u64().expect("campaign");
    f.advance_secs(3);
    let name = format!("fleet_distributed_query_{campaign}");
    for host in [&mut h1, &mut h2] {
        let asked = host.read().await;
        assert!(asked.contains_key(&name), "{asked:?}");
        let wrote = host
            .write(
                json!({ &name: [{"x": "1"}] }),
                json!({ &name: 0 }),
                json!({}),
            )
            .await;
        assert_eq!(wrote.status, StatusCode::OK);
    }
    let carve1 = carve(f, &mut h1, "carve-one").await;
    let carve2 = carve(f, &mut h2, "carve-two").await;
    let (secret1, secret2) = (team_secret(f, team1).await, team_secret(f, team2).await);
    World {
        team1,
        secret1,
        secret2,
        team2,
        host1,
        host2,
        host0,
        observer_query,
        other_query,
        campaign,
        carve1,
        carve2,
    }
}

/// Any answer, JSON or not (carve downloads are bytes).
async fn call(
    f: &Flotilla,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = f
        .http()
        .request(method, format!("{}{path}", f.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The concrete request for a route (creating what it consumes with the break-glass token).
async fn prepare(
    f: &Flotilla,
    w: &World,
    n: usize,
    password: &str,
    token: &str,
    method: &str,
    template: &str,
) -> (String, Option<Value>) {
    let throwaway_user = || async {
        f.break_glass_ok( "POST", "/api/v1/fleet/users/admin", Some(json!({"name": "T", "email": format!("throwaway{n}-{}@example.com", method.to_lowercase()), "password": "throwaway password 1!", "global_role": "observer", "api_only": true}))).await["user"]["id"].as_u64().expect("id")
    };
    match (method, template) {
        ("POST", "/api/v1/fleet/change_password") => (
            template.into(),
            Some(json!({"old_password": password, "new_password": format!("{password}x")})),
        ),
        ("POST", "/api/v1/fleet/users/admin") => (
            template.into(),
            Some(
                json!({"name": "New", "email": format!("new{n}@example.com"), "password": "a new password 1!", "global_role": "observer"}),
            ),
        ),
        ("GET", "/api/v1/fleet/users/{id}") => (
            format!("/api/v1/fleet/users/{}", throwaway_user().await),
            None,
        ),
        ("PATCH", "/api/v1/fleet/users/{id}") => (
            format!("/api/v1/fleet/users/{}", throwaway_user().await),
            Some(json!({"name": "Renamed"})),
        ),
        ("DELETE", "/api/v1/fleet/users/{id}") => (
            format!("/api/v1/fleet/users/{}", throwaway_user().await),
            None,
        ),
        ("POST", "/api/v1/fleet/users/{id}/require_password_reset") => (
            format!(
                "/api/v1/fleet/users/{}/require_password_reset",
                throwaway_user().await
            ),
            Some(json!({"require": false})),
        ),
        ("POST", "/api/v1/fleet/users/{id}/api_token") => (
            format!("/api/v1/fleet/users/{}/api_token", throwaway_user().await),
            Some(json!({})),
        ),
        ("PATCH", "/api/v1/fleet/sso/settings") => (
            template.into(),
            Some(json!({"idp_name": format!("IdP {n}")})),
        ),
        ("POST", "/api/v1/fleet/spec/enroll_secret") => (
            template.into(),
            Some(json!({"spec": {"secrets": [{"secret": f.enroll_secret}]}})),
        ),
        ("POST", "/api/v1/fleet/teams") => {
            (template.into(), Some(json!({"name": format!("Team {n}")})))
        }
        ("PATCH", "/api/v1/fleet/teams/{id}") => (
            format!("/api/v1/fleet/teams/{}", w.team1),
            Some(json!({"name": format!("One {n}")})),
        ),
        ("DELETE", "/api/v1/fleet/teams/{id}") => {
            let id = f
                .break_glass_ok(
                    "POST",
                    "/api/v1/fleet/teams",
                    Some(json!({"name": format!("Doomed {n}")})),
                )
                .await["team"]["id"]
                .as_u64()
                .expect("id");
            (format!("/api/v1/fleet/teams/{id}"), None)
        }
        ("GET", "/api/v1/fleet/teams/{id}/secrets") => {
            (format!("/api/v1/fleet/teams/{}/secrets", w.team1), None)
        }
        ("PATCH", "/api/v1/fleet/teams/{id}/secrets") => (
            format!("/api/v1/fleet/teams/{}/secrets", w.team1),
            // Kept, and one generated: later requests enroll hosts with it.
            Some(json!({"secrets": [{"secret": w.secret1}, {}]})),
        ),
        ("POST", "/api/v1/fleet/teams/{id}/agent_options") => (
            format!("/api/v1/fleet/teams/{}/agent_options", w.team1),
            Some(json!({"config": {"options": {"distributed_interval": 10}}})),
        ),
        ("PATCH", "/api/v1/fleet/config") => (
            template.into(),
            Some(json!({"org_info": {"org_name": format!("Org {n}")}})),
        ),
        ("GET", "/api/v1/fleet/hosts/{id}") => (format!("/api/v1/fleet/hosts/{}", w.host1), None),
        ("POST", "/api/v1/fleet/hosts/{id}/query") => (
            format!("/api/v1/fleet/hosts/{}/query", w.host1),
            Some(json!({"query": "SELECT 6"})),
        ),
        ("POST", "/api/v1/fleet/hosts/{id}/refetch") => {
            (format!("/api/v1/fleet/hosts/{}/refetch", w.host1), None)
        }
        ("DELETE", "/api/v1/fleet/hosts/{id}") => {
            let (_, id) = enroll(f, &w.secret1, &format!("d0000000-0000-0000-0000-{n:012}")).await;
            (format!("/api/v1/fleet/hosts/{id}"), None)
        }
        ("POST", "/api/v1/fleet/hosts/delete") => {
            let (_, id) = enroll(f, &w.secret1, &format!("f0000000-0000-0000-0000-{n:012}")).await;
            (template.into(), Some(json!({"ids": [id]})))
        }
        ("POST", "/api/v1/fleet/hosts/transfer/filter") => (
            template.into(),
            Some(json!({"team_id": w.team1, "filters": {"team_id": w.team1}})),
        ),
        ("POST", "/api/v1/fleet/hosts/transfer") => {
            let (_, id) = enroll(f, &w.secret1, &format!("e0000000-0000-0000-0000-{n:012}")).await;
            (
                template.into(),
                Some(json!({"team_id": w.team1, "hosts": [id]})),
            )
        }
        ("POST", "/api/v1/fleet/queries") => (
            template.into(),
            Some(json!({"name": format!("q{n}"), "query": "SELECT 1", "team_id": w.team1})),
        ),
        ("PATCH", "/api/v1/fleet/queries/{id}") => {
            let id = f.break_glass_ok(
                "POST",
                "/api/v1/fleet/queries",
                Some(
                    json!({"name": format!("edited{n}"), "query": "SELECT 1", "team_id": w.team1}),
                ),
            )
            .await["query"]["id"]
                .as_u64()
                .expect("id");
            (
                format!("/api/v1/fleet/queries/{id}"),
                Some(json!({"interval": 60, "name": format!("edited{n} again")})),
            )
        }
        ("DELETE", "/api/v1/fleet/queries/{id}") => {
            let id = f.break_glass_ok(
                "POST",
                "/api/v1/fleet/queries",
                Some(
                    json!({"name": format!("doomed{n}"), "query": "SELECT 1", "team_id": w.team1}),
                ),
            )
            .await["query"]["id"]
                .as_u64()
                .expect("id");
            (format!("/api/v1/fleet/queries/{id}"), None)
        }
        ("POST", "/api/v1/fleet/queries/run") => (
            template.into(),
            Some(json!({"query": "SELECT 3", "selected": {"teams": [w.team1]}})),
        ),
        ("GET", "/api/v1/fleet/campaigns/{id}/results") => (
            format!("/api/v1/fleet/campaigns/{}/results", w.campaign),
            None,
        ),
        // Every campaign made so far fits one page.
        ("GET", "/api/v1/fleet/campaigns") => ("/api/v1/fleet/campaigns?per_page=100".into(), None),
        ("GET", "/api/v1/fleet/campaigns/{id}") => {
            (format!("/api/v1/fleet/campaigns/{}", w.campaign), None)
        }
        ("GET", "/api/v1/fleet/campaigns/{id}/errors") => (
            format!("/api/v1/fleet/campaigns/{}/errors", w.campaign),
            None,
        ),
        ("POST", "/api/v1/fleet/campaigns/{id}/export") => (
            format!("/api/v1/fleet/campaigns/{}/export?format=csv", w.campaign),
            None,
        ),
        // The caller's own export (each team scope has its own), made and written first.
        ("GET", "/api/v1/fleet/campaigns/{id}/export")
        | ("GET", "/api/v1/fleet/campaigns/{id}/export/download") => {
            let path = format!(
                "/api/v1/fleet/campaigns/{}/export?format=ndjson",
                w.campaign
            );
            let (status, answer) = call(f, token, "POST", &path, None).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
            f.run_jobs().await;
            let path = if template.ends_with("/download") {
                format!(
                    "/api/v1/fleet/campaigns/{}/export/download?format=ndjson",
                    w.campaign
                )
            } else {
                path
            };
            (path, None)
        }
        ("POST", "/api/v1/fleet/campaigns/{id}/stop") => {
            let run = f
                .break_glass_ok(
                    "POST",
                    "/api/v1/fleet/queries/run",
                    Some(json!({"query": "SELECT 5", "selected": {"teams": [w.team1]}})),
                )
                .await;
            let id = run["campaign"]["id"].as_u64().expect("campaign");
            (format!("/api/v1/fleet/campaigns/{id}/stop"), None)
        }
        ("GET", "/api/v1/fleet/carves/{id}") => {
            (format!("/api/v1/fleet/carves/{}", w.carve1), None)
        }
        ("GET", "/api/v1/fleet/carves/{id}/block/{block_id}") => {
            (format!("/api/v1/fleet/carves/{}/block/0", w.carve1), None)
        }
        ("GET", "/api/v1/fleet/carves/{id}/download") => {
            (format!("/api/v1/fleet/carves/{}/download", w.carve1), None)
        }
        _ => (template.into(), None),
    }
}

async fn prepare_outside(
    f: &Flotilla,
    w: &World,
    n: usize,
    case: &str,
) -> (&'static str, String, Value) {
    let uuid = format!("f0000000-0000-0000-0000-{n:012}");
    match case {
        "transfer-from-team2" => {
            let (_, id) = enroll(f, &w.secret2, &uuid).await;
            (
                "POST",
                "/api/v1/fleet/hosts/transfer".into(),
                json!({"team_id": w.team1, "hosts": [id]}),
            )
        }
        "transfer-to-no-team" => {
            let (_, id) = enroll(f, &w.secret1, &uuid).await;
            (
                "POST",
                "/api/v1/fleet/hosts/transfer".into(),
                json!({"team_id": null, "hosts": [id]}),
            )
        }
        "delete-host2" => {
            let (_, id) = enroll(f, &w.secret2, &uuid).await;
            ("DELETE", format!("/api/v1/fleet/hosts/{id}"), Value::Null)
        }
        "host2" => (
            "GET",
            format!("/api/v1/fleet/hosts/{}", w.host2),
            Value::Null,
        ),
        "host0" => (
            "GET",
            format!("/api/v1/fleet/hosts/{}", w.host0),
            Value::Null,
        ),
        "team2-secrets" => (
            "GET",
            format!("/api/v1/fleet/teams/{}/secrets", w.team2),
            Value::Null,
        ),
        "team2-options" => (
            "POST",
            format!("/api/v1/fleet/teams/{}/agent_options", w.team2),
            json!({"config": {}}),
        ),
        "team2-rename" => (
            "PATCH",
            format!("/api/v1/fleet/teams/{}", w.team2),
            json!({"name": format!("Two {n}")}),
        ),
        "team2-query" => (
            "POST",
            "/api/v1/fleet/queries".into(),
            json!({"name": format!("t2-{n}"), "query": "SELECT 1", "team_id": w.team2}),
        ),
        "global-query" => (
            "POST",
            "/api/v1/fleet/queries".into(),
            json!({"name": format!("g-{n}"), "query": "SELECT 1"}),
        ),
        "run-host2" => (
            "POST",
            "/api/v1/fleet/queries/run".into(),
            json!({"query": "SELECT 4", "selected": {"hosts": [w.host2]}}),
        ),
        "run-observer-query" => (
            "POST",
            "/api/v1/fleet/queries/run".into(),
            json!({"query_id": w.observer_query, "selected": {"all": true}}),
        ),
        "edit-global-query" => (
            "PATCH",
            format!("/api/v1/fleet/queries/{}", w.other_query),
            json!({"interval": 120}),
        ),
        "run-other-query" => (
            "POST",
            "/api/v1/fleet/queries/run".into(),
            json!({"query_id": w.other_query, "selected": {"all": true}}),
        ),
        "query-host2" => (
            "POST",
            format!("/api/v1/fleet/hosts/{}/query", w.host2),
            json!({"query": "SELECT 7"}),
        ),
        "refetch-host2" => (
            "POST",
            format!("/api/v1/fleet/hosts/{}/refetch", w.host2),
            Value::Null,
        ),
        "carve2" => (
            "GET",
            format!("/api/v1/fleet/carves/{}", w.carve2),
            Value::Null,
        ),
        other => panic!("no request for {other}"),
    }
}

fn ids(answer: &Value, list: &str, field: &str) -> BTreeSet<u64> {
    answer[list]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i[field].as_u64()).collect())
        .unwrap_or_default()
}

/// What a filtered listing may show a team-1 caller.
fn check_filtered(w: &World, template: &str, answer: &Value, who: &str) {
    match template {
        "/api/v1/fleet/hosts" => {
            // Team 1's hosts only (requests before this one may have added some).
            let listed = ids(answer, "hosts", "id");
            assert!(listed.contains(&w.host1), "{who}: {listed:?}");
            assert!(
                !listed.contains(&w.host2) && !listed.contains(&w.host0),
                "{who}: {listed:?}"
            );
            let teams: BTreeSet<Option<u64>> = answer["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| h["team_id"].as_u64())
                .collect();
            assert_eq!(teams, BTreeSet::from([Some(w.team1)]), "{who}");
        }
        "/api/v1/fleet/teams" => assert_eq!(
            ids(answer, "teams", "id"),
            BTreeSet::from([w.team1]),
            "{who}: {answer}"
        ),
        "/api/v1/fleet/queries" => {
            let teams: BTreeSet<Option<u64>> = answer["queries"]
                .as_array()
                .expect("queries")
                .iter()
                .map(|q| q["team_id"].as_u64())
                .collect();
            assert!(
                !teams.contains(&Some(w.team2)),
                "{who} sees team 2's queries: {answer}"
            );
            assert!(
                teams.contains(&None) && teams.contains(&Some(w.team1)),
                "{who}: {answer}"
            );
        }
        "/api/v1/fleet/campaigns/{id}/results" => assert_eq!(
            ids(answer, "results", "host_id"),
            BTreeSet::from([w.host1]),
            "{who}: {answer}"
        ),
        "/api/v1/fleet/campaigns" => {
            let listed = ids(answer, "campaigns", "id");
            assert!(listed.contains(&w.campaign), "{who}: {answer}");
            // Only campaigns on all hosts, team 1 or its hosts: none on team 2 or its hosts.
            for c in answer["campaigns"].as_array().expect("campaigns") {
                let selected = &c["selected"];
                let on_team1 = selected["teams"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!(w.team1)));
                let on_host1 = selected["hosts"]
                    .as_array()
                    .is_some_and(|h| h.contains(&json!(w.host1)));
                assert!(
                    selected["all"] == json!(true) || on_team1 || on_host1,
                    "{who} sees {c}"
                );
            }
        }
        "/api/v1/fleet/carves" => assert_eq!(
            ids(answer, "carves", "id"),
            BTreeSet::from([w.carve1]),
            "{who}: {answer}"
        ),
        other => panic!("no filter check for {other}"),
    }
}

fn check(expected: char, status: StatusCode, what: &str, who: &str, answer: &Value) {
    match expected {
        'Y' | 'F' => assert!(
            status.is_success(),
            "{who} {what}: expected allowed, got {status} {answer}"
        ),
        'N' => assert_eq!(status, StatusCode::FORBIDDEN, "{who} {what}: {answer}"),
        'B' => assert_eq!(status, StatusCode::BAD_REQUEST, "{who} {what}: {answer}"),
        'H' => assert_eq!(status, StatusCode::NOT_FOUND, "{who} {what}: {answer}"),
        other => panic!("unknown expectation {other}"),
    }
}

async fn every_route_against_every_role(family: Family) {
    // The per-host query answers at once (a timeout) instead of waiting 25 s per caller.
    let setup = Setup {
        settings: Some(Box::new(|settings, _| {
            settings.host_query_wait = std::time::Duration::ZERO;
        })),
        ..Setup::default()
    };
    let f = Flotilla::start_with(family, setup).await;
    // The matrix names every guarded route, and only those.
    let guarded: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .filter(|r| matches!(r.access, Access::Global(_) | Access::Team(_)))
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let listed: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        guarded, listed,
        "every guarded route has a line in the matrix"
    );
    for (_, _, row) in MATRIX.iter().chain(OUTSIDE_TEAM_1) {
        assert_eq!(row.len(), CALLERS.len());
    }

    let w = build_world(&f).await;
    let mut n = 0;
    for (column, (who, role, on_team)) in CALLERS.iter().enumerate() {
        let (token, mut password) = match role {
            None => (f.break_glass.clone(), String::new()),
            Some(role) => {
                let user = if *on_team {
                    f.user(None, &[(w.team1, role)]).await
                } else {
                    f.user(Some(role), &[]).await
                };
                (user.token, user.password)
            }
        };
        for (method, template, row) in MATRIX {
            n += 1;
            let (path, body) = prepare(&f, &w, n, &password, &token, method, template).await;
            let (status, answer) = call(&f, &token, method, &path, body).await;
            let expected = row.as_bytes()[column] as char;
            check(expected, status, &format!("{method} {path}"), who, &answer);
            if expected == 'F' {
                check_filtered(&w, template, &answer, who);
            }
            if *template == "/api/v1/fleet/change_password" && status.is_success() {
                password.push('x');
            }
            if *template == "/api/v1/fleet/queries/run" && status.is_success() && *on_team {
                assert_eq!(
                    answer["campaign"]["selected"]["teams"],
                    json!([w.team1]),
                    "{answer}"
                );
            }
        }
        if role.is_some() {
            let (status, _) = call(&f, &token, "GET", "/api/v1/fleet/me", None).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{who}: logout ended the session"
            );
        }
        // Team-scoped things outside team 1, with a fresh session.
        let token = match role {
            None => f.break_glass.clone(),
            Some(role) => {
                if *on_team {
                    f.user(None, &[(w.team1, role)]).await.token
                } else {
                    f.user(Some(role), &[]).await.token
                }
            }
        };
        for (what, case, row) in OUTSIDE_TEAM_1 {
            n += 1;
            let (method, path, body) = prepare_outside(&f, &w, n, case).await;
            let (status, answer) =
                call(&f, &token, method, &path, (!body.is_null()).then_some(body)).await;
            check(row.as_bytes()[column] as char, status, what, who, &answer);
            if *case == "run-observer-query" && *on_team {
                assert_eq!(
                    answer["campaign"]["selected"],
                    json!({"hosts": [], "teams": [w.team1], "all": false}),
                    "`all` narrowed to the caller's teams: {answer}"
                );
            }
        }
    }
}
