//! The saved queries pages driven like a user: create, edit and delete a query through the
//! forms, team users limited to their teams, observers' forged posts refused; and Fleet's
//! `PATCH /api/v1/fleet/queries/{id}` (both families).

use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::page_client::Browser;
use reqwest::StatusCode;
use serde_json::{json, Value};

flotilla_tests::both!(
    queries_through_forms,
    team_users_and_observers,
    modify_query_api
);

async fn queries(f: &Flotilla) -> Vec<Value> {
    f.break_glass_ok("GET", "/api/v1/fleet/queries", None).await["queries"]
        .as_array()
        .expect("queries")
        .clone()
}

async fn query(f: &Flotilla, id: u64) -> Option<Value> {
    queries(f).await.into_iter().find(|q| q["id"] == id)
}

async fn create_team(f: &Flotilla, name: &str) -> u64 {
    f.break_glass_ok("POST", "/api/v1/fleet/teams", Some(json!({ "name": name })))
        .await["team"]["id"]
        .as_u64()
        .expect("team id")
}

/// The id a create's redirect names.
fn created_id(location: Option<&str>) -> u64 {
    location
        .and_then(|l| l.strip_prefix("/queries/"))
        .and_then(|l| l.strip_suffix("?notice=created"))
        .and_then(|id| id.parse().ok())
        .expect("the new query's page")
}

async fn queries_through_forms(family: Family) {
    let f = Flotilla::start(family).await;
    let maintainer = f.user(Some("maintainer"), &[]).await;
    let browser = Browser::new(&f, Some(maintainer.token.clone()));

    let form = browser.get("/queries/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form
        .body
        .contains("<option value=\"\" selected>Global (every host)</option>"));

    let created = browser
        .post(
            "/queries",
            &[
                ("name", "uptime"),
                ("query", "SELECT * FROM uptime;"),
                ("interval", "3600"),
                ("platform_darwin", "on"),
                ("platform_linux", "on"),
                ("logging", "snapshot"),
                ("observer_can_run", "on"),
                ("team_id", ""),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let id = created_id(created.location());
    let stored = query(&f, id).await.expect("listed by the API");
    assert_eq!(stored["name"], "uptime");
    assert_eq!(stored["query"], "SELECT * FROM uptime;");
    assert_eq!(stored["interval"], 3600);
    assert_eq!(stored["platform"], "darwin,linux");
    assert_eq!(stored["logging"], "snapshot");
    assert_eq!(stored["observer_can_run"], true);
    assert_eq!(stored["team_id"], Value::Null);

    let list = browser.get("/queries").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list
        .body
        .contains(&format!("href=\"/queries/{id}\">uptime</a>")));
    assert!(list.body.contains("every 1 hour(s)"));
    assert!(list.body.contains("macOS, Linux"));
    // A maintainer may run any SQL: every query has its "Run live" link.
    assert!(list
        .body
        .contains(&format!("href=\"/live?query_id={id}\">Run live")));
    let page = browser.get(&format!("/queries/{id}")).await;
    assert!(page.body.contains("value=\"uptime\""));
    assert!(page.body.contains(&format!("href=\"/live?query_id={id}\"")));
    assert!(page
        .body
        .contains("name=\"platform_darwin\" type=\"checkbox\" checked"));

    // A bad interval and a taken name come back with the message and what was typed.
    let bad = browser
        .post(
            &format!("/queries/{id}"),
            &[
                ("name", "uptime 2"),
                ("query", "SELECT 2"),
                ("interval", "soon"),
                ("logging", "snapshot"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("whole number of seconds"));
    assert!(bad.body.contains("value=\"soon\"") && bad.body.contains("value=\"uptime 2\""));
    browser
        .post(
            "/queries",
            &[("name", "other"), ("query", "SELECT 1"), ("interval", "0")],
        )
        .await;
    let taken = browser
        .post(
            &format!("/queries/{id}"),
            &[
                ("name", "other"),
                ("query", "SELECT 2"),
                ("interval", "60"),
                ("logging", "snapshot"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(query(&f, id).await.expect("kept")["name"], "uptime");

    // Edit.
    let saved = browser
        .post(
            &format!("/queries/{id}"),
            &[
                ("name", "uptime, every minute"),
                ("query", "SELECT total_seconds FROM uptime;"),
                ("interval", "60"),
                ("logging", "differential"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        saved.location(),
        Some(format!("/queries/{id}?notice=saved").as_str())
    );
    let stored = query(&f, id).await.expect("still there");
    assert_eq!(stored["name"], "uptime, every minute");
    assert_eq!(stored["query"], "SELECT total_seconds FROM uptime;");
    assert_eq!(stored["interval"], 60);
    assert_eq!(stored["platform"], "");
    assert_eq!(stored["logging"], "differential");
    assert_eq!(stored["observer_can_run"], false);

    // Delete.
    let page = browser.get(&format!("/queries/{id}")).await;
    assert!(page
        .body
        .contains("data-confirm=\"Delete the query \u{201c}uptime, every minute\u{201d}?"));
    let deleted = browser.post(&format!("/queries/{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.location(), Some("/queries?notice=deleted"));
    assert!(query(&f, id).await.is_none());
    assert_eq!(
        browser.get(&format!("/queries/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn team_users_and_observers(family: Family) {
    let f = Flotilla::start(family).await;
    let one = create_team(&f, "One").await;
    let two = create_team(&f, "Two").await;
    let global = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "global", "query": "SELECT 1", "interval": 60})),
        )
        .await["query"]["id"]
        .as_u64()
        .expect("id");
    let theirs = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "two's", "query": "SELECT 2", "team_id": two})),
        )
        .await["query"]["id"]
        .as_u64()
        .expect("id");

    let maintainer = f.user(None, &[(one, "maintainer")]).await;
    let browser = Browser::new(&f, Some(maintainer.token.clone()));
    // Only their team to choose from.
    let form = browser.get("/queries/new").await;
    assert!(!form.body.contains("Global (every host)</option>"));
    assert!(form.body.contains(&format!("<option value=\"{one}\"")));
    assert!(!form.body.contains(&format!("<option value=\"{two}\"")));
    let fields = |team: String| {
        vec![
            ("name".to_string(), format!("in {team}")),
            ("query".to_string(), "SELECT 3".to_string()),
            ("interval".to_string(), "0".to_string()),
            ("team_id".to_string(), team),
        ]
    };
    let post = |path: String, fields: Vec<(String, String)>| {
        let browser = &browser;
        async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            browser.post(&path, &fields).await
        }
    };
    let mine = post("/queries".into(), fields(one.to_string())).await;
    assert_eq!(mine.status, StatusCode::SEE_OTHER, "{}", mine.body);
    let mine = created_id(mine.location());
    assert_eq!(query(&f, mine).await.expect("saved")["team_id"], one);
    let count = queries(&f).await.len();
    for team in [two.to_string(), String::new()] {
        let page = post("/queries".into(), fields(team.clone())).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "team {team:?}");
    }
    assert_eq!(queries(&f).await.len(), count);
    // Global and other teams' queries: read (global), not changed.
    let page = browser.get(&format!("/queries/{global}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Save changes"));
    assert_eq!(
        browser.get(&format!("/queries/{theirs}")).await.status,
        StatusCode::FORBIDDEN
    );
    let edit = vec![
        ("name".to_string(), "hijacked".to_string()),
        ("query".to_string(), "SELECT 4".to_string()),
        ("interval".to_string(), "1".to_string()),
    ];
    for id in [global, theirs] {
        let page = post(format!("/queries/{id}"), edit.clone()).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        let page = post(format!("/queries/{id}/delete"), Vec::new()).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(query(&f, global).await.expect("kept")["name"], "global");
    assert_eq!(query(&f, theirs).await.expect("kept")["name"], "two's");
    let list = browser.get("/queries").await;
    assert!(
        list.body.contains(">global</a>")
            && !list.body.contains("two&#39;s")
            && !list.body.contains("two's")
    );

    // An observer: no forms, and forged posts are refused; "Run live" only on the queries
    // observers may run.
    let for_observers = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "for observers", "query": "SELECT 5", "observer_can_run": true})),
        )
        .await["query"]["id"]
        .as_u64()
        .expect("id");
    let observer = f.user(Some("observer"), &[]).await;
    let browser = Browser::new(&f, Some(observer.token.clone()));
    let list = browser.get("/queries").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains("New query"));
    assert!(list
        .body
        .contains(&format!("href=\"/live?query_id={for_observers}\"")));
    assert!(!list
        .body
        .contains(&format!("href=\"/live?query_id={global}\"")));
    let page = browser.get(&format!("/queries/{global}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("href=\"/live?query_id="));
    let before = queries(&f).await;
    for (path, fields) in [
        ("/queries".to_string(), fields(String::new())),
        (format!("/queries/{global}"), edit.clone()),
        (format!("/queries/{global}/delete"), Vec::new()),
    ] {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let page = browser.post(&path, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(queries(&f).await, before);
}

async fn modify_query_api(family: Family) {
    let f = Flotilla::start(family).await;
    let id = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "q", "query": "SELECT 1", "interval": 60})),
        )
        .await["query"]["id"]
        .as_u64()
        .expect("id");
    let changed = f
        .break_glass_ok(
            "PATCH",
            &format!("/api/v1/fleet/queries/{id}"),
            Some(json!({"query": "SELECT 2", "observer_can_run": true, "description": "ignored"})),
        )
        .await;
    assert_eq!(changed["query"]["query"], "SELECT 2");
    assert_eq!(
        changed["query"]["interval"], 60,
        "what is not given is kept"
    );
    let stored = query(&f, id).await.expect("there");
    assert_eq!(stored["query"], "SELECT 2");
    assert_eq!(stored["observer_can_run"], true);
    let (status, _) = f
        .admin(
            "PATCH",
            &format!("/api/v1/fleet/queries/{id}"),
            Some(json!({"logging": "sometimes"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .admin(
            "PATCH",
            "/api/v1/fleet/queries/999999",
            Some(json!({"interval": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        query(&f, id).await.expect("there")["logging"],
        "differential"
    );
}
