//! Renaming and deleting teams (`PATCH` and `DELETE /api/v1/fleet/teams/{id}`), on both
//! adapter families: the name claim moves with a rename; a deletion takes the team's secrets,
//! queries and roles with it and leaves its hosts in no team, and a deletion that failed
//! halfway is finished by calling it again.

use async_trait::async_trait;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flotilla::api::Group;
use flotilla::domain::{team_removal, teams};
use flotilla::ports::{Item, Key, Page, Query, StateStore, StoreError, WriteOp};
use flotilla::App;
use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::osquery_client::OsqueryClient;

flotilla_tests::both!(
    rename_moves_the_name_claim,
    delete_takes_what_hangs_off_the_team,
    a_failed_deletion_is_finished_by_a_retry,
);

async fn ok(f: &Flotilla, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = f.admin(method, path, body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
    answer
}

async fn create_team(f: &Flotilla, name: &str) -> u64 {
    ok(
        f,
        "POST",
        "/api/v1/fleet/teams",
        Some(json!({ "name": name })),
    )
    .await["team"]["id"]
        .as_u64()
        .expect("team id")
}

async fn team_names(f: &Flotilla) -> Vec<String> {
    ok(f, "GET", "/api/v1/fleet/teams", None).await["teams"]
        .as_array()
        .expect("teams")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

async fn team_secret(f: &Flotilla, team: u64) -> String {
    ok(
        f,
        "GET",
        &format!("/api/v1/fleet/teams/{team}/secrets"),
        None,
    )
    .await["secrets"][0]["secret"]
        .as_str()
        .expect("team secret")
        .to_string()
}

/// The newest activity of this type.
async fn newest_activity(f: &Flotilla, kind: &str) -> Value {
    let page = ok(f, "GET", "/api/v1/fleet/activities", None).await;
    page["activities"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["type"] == kind))
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} activity in {page}"))
}

async fn rename(f: &Flotilla, token: Option<&str>, id: u64, body: Value) -> (StatusCode, Value) {
    f.admin_as(
        Some(token.unwrap_or(&f.break_glass)),
        "PATCH",
        &format!("/api/v1/fleet/teams/{id}"),
        Some(body),
    )
    .await
}

async fn rename_moves_the_name_claim(family: Family) {
    let f = Flotilla::start(family).await;
    let alpha = create_team(&f, "Alpha").await;
    let beta = create_team(&f, "Beta").await;

    let (status, renamed) = rename(
        &f,
        None,
        alpha,
        json!({"name": "Gamma", "description": "ignored"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["team"]["id"], alpha);
    assert_eq!(renamed["team"]["name"], "Gamma");
    assert_eq!(team_names(&f).await, vec!["Gamma", "Beta"]);
    let activity = newest_activity(&f, "edited_team").await;
    assert_eq!(
        activity["details"],
        json!({"team_id": alpha, "team_name": "Gamma"})
    );

    // The old name is free again; the new one is held.
    create_team(&f, "alpha").await;
    let (status, answer) = f
        .admin(
            "POST",
            "/api/v1/fleet/teams",
            Some(json!({"name": "gamma"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    // Another team's name, in any case: refused, and nothing moved.
    let (status, answer) = rename(&f, None, alpha, json!({"name": "BETA"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(team_names(&f).await, vec!["Gamma", "Beta", "alpha"]);

    // Its own name in another case: allowed, and the claim still holds it.
    let (status, answer) = rename(&f, None, alpha, json!({"name": "GAMMA"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["team"]["name"], "GAMMA");
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/teams",
            Some(json!({"name": "Gamma"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a case change keeps the claim"
    );

    let (status, answer) = rename(&f, None, 9999, json!({"name": "Nowhere"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = rename(&f, None, alpha, json!({"name": "X", "color": "red"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown field: {answer}");
    let (status, answer) = rename(&f, None, alpha, json!({"name": "  "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "empty name: {answer}");

    // A team admin renames their own team, not another.
    let beta_admin = f.user(None, &[(beta, "admin")]).await;
    let (status, answer) = rename(
        &f,
        Some(&beta_admin.token),
        alpha,
        json!({"name": "Taken over"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    f.advance_secs(1); // activities are ordered by millisecond: this one comes last
    let (status, answer) = rename(
        &f,
        Some(&beta_admin.token),
        beta,
        json!({"name": "Beta Prime"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(team_names(&f).await, vec!["GAMMA", "Beta Prime", "alpha"]);
    let activity = newest_activity(&f, "edited_team").await;
    assert_eq!(activity["actor_id"], beta_admin.id);
    assert_eq!(activity["details"]["team_name"], "Beta Prime");
}

fn packs(config: &Value) -> Vec<String> {
    config["packs"]
        .as_object()
        .map(|packs| packs.keys().cloned().collect())
        .unwrap_or_default()
}

async fn user_teams(f: &Flotilla, id: u64) -> Value {
    ok(f, "GET", &format!("/api/v1/fleet/users/{id}"), None).await["user"]["teams"].clone()
}

/// Runs a live query for the team: how many hosts it targeted, and whether `host` is asked.
async fn live_query_for_team(f: &Flotilla, host: &mut OsqueryClient, team: u64) -> (u64, bool) {
    let run = ok(
        f,
        "POST",
        "/api/v1/fleet/queries/run",
        Some(json!({"query": "SELECT 1", "selected": {"teams": [team]}})),
    )
    .await;
    f.advance_secs(3); // the live snapshot
    let name = format!("fleet_distributed_query_{}", run["campaign"]["id"]);
    let targeted = run["campaign"]["targeted"].as_u64().expect("targeted");
    (targeted, host.read().await.contains_key(&name))
}

async fn delete_takes_what_hangs_off_the_team(family: Family) {
    let f = Flotilla::start(family).await;
    let doomed = create_team(&f, "Doomed").await;
    let keep = create_team(&f, "Keep").await;
    ok(
        &f,
        "POST",
        &format!("/api/v1/fleet/teams/{doomed}/agent_options"),
        Some(json!({"config": {"options": {"distributed_interval": 30}}})),
    )
    .await;
    let doomed_secret = team_secret(&f, doomed).await;
    let mut host = OsqueryClient::new(
        &f.base,
        &doomed_secret,
        "DDDDDDDD-0000-0000-0000-000000000001",
    );
    assert_eq!(host.enroll().await.status, StatusCode::OK);
    let mut kept_host = OsqueryClient::new(
        &f.base,
        &team_secret(&f, keep).await,
        "DDDDDDDD-0000-0000-0000-000000000002",
    );
    assert_eq!(kept_host.enroll().await.status, StatusCode::OK);
    let query = |name: &str, team: Option<u64>| json!({"name": name, "query": "SELECT 1", "interval": 60, "team_id": team});
    for (name, team) in [
        ("doomed query", Some(doomed)),
        ("kept query", Some(keep)),
        ("global query", None),
    ] {
        ok(&f, "POST", "/api/v1/fleet/queries", Some(query(name, team))).await;
    }
    let only_doomed = f.user(None, &[(doomed, "maintainer")]).await;
    let both = f.user(None, &[(doomed, "observer"), (keep, "admin")]).await;

    // Before: the host has the team's options and pack, and the team's live queries.
    f.advance_secs(6); // config cache
    let config = host.config().await.body;
    assert_eq!(config["options"]["distributed_interval"], 30, "{config}");
    assert!(
        packs(&config).contains(&format!("team-{doomed}")),
        "{config}"
    );
    let (targeted, asked) = live_query_for_team(&f, &mut host, doomed).await;
    assert_eq!((targeted, asked), (1, true));

    // Only global admins delete teams, even the team's own admin may not.
    let (status, answer) = f
        .admin_as(
            Some(&both.token),
            "DELETE",
            &format!("/api/v1/fleet/teams/{keep}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");

    let deleted = ok(&f, "DELETE", &format!("/api/v1/fleet/teams/{doomed}"), None).await;
    assert_eq!(deleted, json!({}));

    // The host is in no team and gets the global options, without the team's pack.
    let hosts = ok(&f, "GET", "/api/v1/fleet/hosts", None).await;
    let team_of = |uuid: &str| {
        hosts["hosts"]
            .as_array()
            .and_then(|all| all.iter().find(|h| h["uuid"] == uuid))
            .map(|h| h["team_id"].clone())
            .unwrap_or_else(|| panic!("{uuid} not listed: {hosts}"))
    };
    assert_eq!(team_of(&host.uuid), Value::Null);
    assert_eq!(team_of(&kept_host.uuid), json!(keep));
    f.advance_secs(3); // the epoch reaches every instance
    let config = host.config().await.body;
    assert_eq!(config["options"]["distributed_interval"], 10, "{config}");
    assert_eq!(packs(&config), vec!["Global".to_string()], "{config}");
    assert_eq!(host.enroll_count, 1, "the host kept its node key");
    // Every instance forgot the host's team, not just the stored host: a live query for the
    // deleted team's id reaches nobody.
    let (targeted, asked) = live_query_for_team(&f, &mut host, doomed).await;
    assert_eq!((targeted, asked), (0, false));
    let config = kept_host.config().await.body;
    assert!(packs(&config).contains(&format!("team-{keep}")), "{config}");

    // The team's secret enrolls nobody any more.
    let mut newcomer = OsqueryClient::new(
        &f.base,
        &doomed_secret,
        "DDDDDDDD-0000-0000-0000-000000000003",
    );
    let refused = newcomer.enroll().await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert_eq!(refused.body["node_invalid"], true, "{}", refused.body);
    let (status, _) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/teams/{doomed}/secrets"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Its queries are gone, the others stay.
    let queries = ok(&f, "GET", "/api/v1/fleet/queries", None).await;
    let mut names: Vec<&str> = queries["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, vec!["global query", "kept query"], "{queries}");

    // Users lose their role on it; one left with no role keeps only their own account.
    assert_eq!(user_teams(&f, only_doomed.id).await, json!([]));
    assert_eq!(
        user_teams(&f, both.id).await,
        json!([{"id": keep, "name": "Keep", "role": "admin"}])
    );
    let (status, me) = f
        .admin_as(Some(&only_doomed.token), "GET", "/api/v1/fleet/me", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["teams"], json!([]), "{me}");
    for path in ["/api/v1/fleet/hosts", "/api/v1/fleet/teams"] {
        let (status, answer) = f
            .admin_as(Some(&only_doomed.token), "GET", path, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
    }

    let activity = newest_activity(&f, "deleted_team").await;
    assert_eq!(
        activity["details"],
        json!({"team_id": doomed, "team_name": "Doomed"})
    );

    // Gone: a second deletion finds nothing, the list has only the other, the name is free.
    let (status, answer) = f
        .admin("DELETE", &format!("/api/v1/fleet/teams/{doomed}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = rename(&f, None, doomed, json!({"name": "Back"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(team_names(&f).await, vec!["Keep"]);
    create_team(&f, "doomed").await;
}

/// A store that refuses every write (and counter increment) after the first `allowed`.
struct FailingWrites {
    inner: Arc<dyn StateStore>,
    allowed: AtomicUsize,
}

impl FailingWrites {
    fn take_one(&self) -> Result<(), StoreError> {
        self.allowed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| StoreError::Unavailable("injected failure".into()))
    }
}

#[async_trait]
impl StateStore for FailingWrites {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.inner.batch_get(keys).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.take_one()?;
        self.inner.write(ops).await
    }

    async fn increment(
        &self,
        key: &Key,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.take_one()?;
        self.inner.increment(key, by, expires_at).await
    }
}

/// Deletion attempts that fail after 0, 1, 2... writes: until one completes, the team item
/// is still stored (so a retry can finish) and the team is gone for everyone else; the one
/// that completes leaves nothing behind.
async fn a_failed_deletion_is_finished_by_a_retry(family: Family) {
    let f = Flotilla::start(family).await;
    let doomed = create_team(&f, "Halfway").await;
    let secret = team_secret(&f, doomed).await;
    let mut host = OsqueryClient::new(&f.base, &secret, "EEEEEEEE-0000-0000-0000-000000000001");
    assert_eq!(host.enroll().await.status, StatusCode::OK);
    ok(
        &f,
        "POST",
        "/api/v1/fleet/queries",
        Some(json!({"name": "halfway query", "query": "SELECT 1", "interval": 60, "team_id": doomed})),
    )
    .await;
    let user = f.user(None, &[(doomed, "observer")]).await;

    let admin_app = &f.apps[&Group::Admin];
    let mut failures = 0;
    let team = loop {
        let mut ports = admin_app.ports.clone();
        ports.state = Arc::new(FailingWrites {
            inner: ports.state.clone(),
            allowed: AtomicUsize::new(failures),
        });
        let app = App::with_clock(ports, admin_app.settings.clone(), f.clock.clone());
        match team_removal::remove(&app, doomed).await {
            Ok(team) => break team,
            Err(err) => {
                failures += 1;
                assert!(failures < 50, "never completes: {err}");
                let stored = teams::get_stored(admin_app.state(), doomed)
                    .await
                    .expect("store");
                assert!(
                    stored.is_some(),
                    "a failed attempt ({err}) keeps the team item"
                );
                if failures > 1 {
                    // Marked by the first write: hidden from everyone else.
                    assert!(stored.is_some_and(|(team, _)| team.deleting));
                    assert_eq!(team_names(&f).await, Vec::<String>::new());
                    let (status, _) = rename(&f, None, doomed, json!({"name": "Back"})).await;
                    assert_eq!(status, StatusCode::NOT_FOUND);
                }
            }
        }
    };
    assert_eq!(team.name, "Halfway");
    // Attempt n may write n times, and skips what earlier ones did: attempts fail at the
    // mark, the secrets, the user's role and the team item before one completes.
    assert!(failures >= 4, "only {failures} failed attempts");

    assert_eq!(
        teams::get_stored(admin_app.state(), doomed)
            .await
            .expect("store")
            .map(|(team, _)| team.name),
        None
    );
    let hosts = ok(&f, "GET", "/api/v1/fleet/hosts", None).await;
    assert_eq!(hosts["hosts"][0]["team_id"], Value::Null, "{hosts}");
    let queries = ok(&f, "GET", "/api/v1/fleet/queries", None).await;
    assert_eq!(queries["queries"], json!([]), "{queries}");
    assert_eq!(user_teams(&f, user.id).await, json!([]));
    let mut newcomer = OsqueryClient::new(&f.base, &secret, "EEEEEEEE-0000-0000-0000-000000000002");
    assert_eq!(newcomer.enroll().await.status, StatusCode::UNAUTHORIZED);
    let (status, _) = f
        .admin("DELETE", &format!("/api/v1/fleet/teams/{doomed}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    create_team(&f, "halfway").await;
}
