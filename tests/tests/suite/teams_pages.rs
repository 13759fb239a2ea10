//! The teams pages driven like a user: create, rename and delete a team through the forms,
//! a team's and the global enroll secrets, the agent options editor (line-numbered problems,
//! the review's diff, the save, a stale save refused), and the refusals (both families).

use flotilla::domain::credentials::sha256_hex;
use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::page_client::{Browser, Page};
use reqwest::StatusCode;
use serde_json::{json, Value};

flotilla_tests::both!(
    teams_through_forms,
    enroll_secrets_through_forms,
    agent_options_editor,
    refusals
);

async fn team_names(f: &Flotilla) -> Vec<String> {
    f.break_glass_ok("GET", "/api/v1/fleet/teams", None).await["teams"]
        .as_array()
        .expect("teams")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

async fn create_team(f: &Flotilla, name: &str) -> u64 {
    f.break_glass_ok("POST", "/api/v1/fleet/teams", Some(json!({ "name": name })))
        .await["team"]["id"]
        .as_u64()
        .expect("team id")
}

async fn team_secrets(f: &Flotilla, team: u64) -> Vec<String> {
    f.break_glass_ok("GET", &format!("/api/v1/fleet/teams/{team}/secrets"), None)
        .await["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter_map(|s| s["secret"].as_str().map(str::to_owned))
        .collect()
}

async fn global_secrets(f: &Flotilla) -> Vec<String> {
    f.break_glass_ok("GET", "/api/v1/fleet/spec/enroll_secret", None)
        .await["spec"]["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter_map(|s| s["secret"].as_str().map(str::to_owned))
        .collect()
}

fn see_other(page: &Page, to: &str) {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some(to));
}

async fn teams_through_forms(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));

    let list = browser.get("/teams").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("<h1>Teams</h1>"));
    assert!(list.body.contains("Create team"));

    // Create.
    let created = browser.post("/teams", &[("name", "  Blue  ")]).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location().expect("location").to_string();
    let id: u64 = location
        .trim_start_matches("/teams/")
        .trim_end_matches("?notice=created")
        .parse()
        .expect("team id in the redirect");
    assert_eq!(team_names(&f).await, vec!["Blue".to_string()]);
    let page = browser.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>Blue</h1>"));
    assert!(page.body.contains("The team is created"));
    // Its generated secret is shown, as the API lists it.
    let secrets = team_secrets(&f, id).await;
    assert_eq!(secrets.len(), 1);
    assert!(page
        .body
        .contains(&format!("<code class=\"secret\">{}</code>", secrets[0])));
    assert!(page
        .body
        .contains(&format!("href=\"/teams/{id}/agent-options\"")));
    let list = browser.get("/teams").await;
    assert!(list
        .body
        .contains(&format!("href=\"/teams/{id}\">Blue</a>")));

    // A name taken or empty: the form comes back with the message and what was typed.
    create_team(&f, "Taken").await;
    let taken = browser.post("/teams", &[("name", "taken")]).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(taken.body.contains("already exists"), "{}", taken.body);
    assert!(taken.body.contains("value=\"taken\""));
    let empty = browser.post("/teams", &[("name", "   ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("class=\"error\""));

    // Rename.
    let renamed = browser
        .post(&format!("/teams/{id}/rename"), &[("name", "Green")])
        .await;
    see_other(&renamed, &format!("/teams/{id}?notice=renamed"));
    let names = team_names(&f).await;
    assert!(names.contains(&"Green".to_string()) && !names.contains(&"Blue".to_string()));
    let clash = browser
        .post(&format!("/teams/{id}/rename"), &[("name", "TAKEN")])
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert!(clash.body.contains("value=\"TAKEN\""));
    assert!(team_names(&f).await.contains(&"Green".to_string()));

    // Delete: the button says what happens to the hosts.
    let page = browser.get(&format!("/teams/{id}")).await;
    assert!(
        page.body
            .contains("data-confirm=\"Delete the team \u{201c}Green\u{201d}?")
            && page.body.contains("its hosts stay, moved to no team"),
        "{}",
        page.body
    );
    let deleted = browser.post(&format!("/teams/{id}/delete"), &[]).await;
    see_other(&deleted, "/teams?notice=deleted");
    assert!(!team_names(&f).await.contains(&"Green".to_string()));
    assert!(secrets_gone(&f, &secrets[0]).await);
    let gone = browser.get(&format!("/teams/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

/// A team's secret no longer enrolls anything.
async fn secrets_gone(f: &Flotilla, secret: &str) -> bool {
    let mut host = flotilla_tests::osquery_client::OsqueryClient::new(
        &f.base,
        secret,
        "4c4c4544-0000-0000-0000-0000000000aa",
    );
    host.enroll().await.status != StatusCode::OK
}

async fn enroll_secrets_through_forms(family: Family) {
    let f = Flotilla::start(family).await;
    let maintainer = f.user(Some("maintainer"), &[]).await;
    let browser = Browser::new(&f, Some(maintainer.token.clone()));
    let team = create_team(&f, "Red").await;

    // A team's: add one, delete one.
    let before = team_secrets(&f, team).await;
    let added = browser.post(&format!("/teams/{team}/secrets"), &[]).await;
    see_other(
        &added,
        &format!("/teams/{team}?notice=secret-added#secrets"),
    );
    let after = team_secrets(&f, team).await;
    assert_eq!(after.len(), before.len() + 1);
    let new = after
        .iter()
        .find(|s| !before.contains(s))
        .expect("a new secret")
        .clone();
    let page = browser.get(&format!("/teams/{team}")).await;
    assert!(page.body.contains(&new));
    assert!(page.body.contains(&sha256_hex(&new)));
    let removed = browser
        .post(
            &format!("/teams/{team}/secrets/delete"),
            &[("secret_hash", &sha256_hex(&before[0]))],
        )
        .await;
    see_other(
        &removed,
        &format!("/teams/{team}?notice=secret-deleted#secrets"),
    );
    assert_eq!(team_secrets(&f, team).await, vec![new.clone()]);
    let unknown = browser
        .post(
            &format!("/teams/{team}/secrets/delete"),
            &[("secret_hash", &sha256_hex("not one of them"))],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(team_secrets(&f, team).await, vec![new]);

    // The global ones.
    let before = global_secrets(&f).await;
    let page = browser.get("/teams/global").await;
    assert_eq!(page.status, StatusCode::OK);
    for secret in &before {
        assert!(page.body.contains(secret.as_str()));
    }
    let added = browser.post("/teams/global/secrets", &[]).await;
    see_other(&added, "/teams/global?notice=secret-added#secrets");
    let after = global_secrets(&f).await;
    assert_eq!(after.len(), before.len() + 1);
    let new = after
        .iter()
        .find(|s| !before.contains(s))
        .expect("a new global secret")
        .clone();
    let mut host = f.client("4c4c4544-0000-0000-0000-0000000000bb");
    host.enroll_secret = new.clone();
    assert_eq!(
        host.enroll().await.status,
        StatusCode::OK,
        "the new secret enrolls"
    );
    let removed = browser
        .post(
            "/teams/global/secrets/delete",
            &[("secret_hash", &sha256_hex(&new))],
        )
        .await;
    see_other(&removed, "/teams/global?notice=secret-deleted#secrets");
    assert_eq!(global_secrets(&f).await, before);

    // An observer sees no secrets on the team's page, and no forms.
    let observer = f.user(Some("observer"), &[]).await;
    let page = Browser::new(&f, Some(observer.token.clone()))
        .get(&format!("/teams/{team}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Enroll secrets"));
    assert!(!page.body.contains("class=\"secret\""));
    assert!(!page.body.contains("Rename team"));
    assert!(!page.body.contains("/delete\""));
}

/// The `reviewed` fingerprint a review page's save form carries.
fn reviewed(page: &Page) -> String {
    let marker = "name=\"reviewed\" value=\"";
    let at = page.body.find(marker).expect("a save form") + marker.len();
    page.body[at..]
        .split('"')
        .next()
        .expect("value")
        .to_string()
}

fn interval(config: &Value) -> &Value {
    &config["config"]["options"]["distributed_interval"]
}

async fn agent_options_editor(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));

    let editor = browser.get("/settings/agent-options").await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(editor
        .body
        .contains("<textarea id=\"options\" name=\"options\""));
    assert!(editor.body.contains("distributed_interval"));

    // A syntax error names its line; the text is kept.
    let broken = "{\n  \"config\": {\n    \"options\": {\n      \"distributed_interval\": 10,,\n    }\n  }\n}";
    let page = browser
        .post(
            "/settings/agent-options",
            &[("options", broken), ("action", "review")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("line 4: column"), "{}", page.body);
    assert!(page.body.contains("10,,"), "the text is kept");

    // A mistyped value names the key and its line.
    let mistyped = "{\n  \"config\": {\n    \"options\": {\n      \"pack_delimiter\": \"/\",\n      \"distributed_interval\": \"ten\"\n    }\n  }\n}";
    let page = browser
        .post(
            "/settings/agent-options",
            &[("options", mistyped), ("action", "review")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body
            .contains("line 5: `config.options.distributed_interval` must be a number"),
        "{}",
        page.body
    );
    // So does one in a platform override, and an unknown top-level key is refused.
    let overridden = "{\n  \"overrides\": {\n    \"platforms\": {\n      \"windows\": {\n        \"options\": {\"distributed_interval\": true}\n      }\n    }\n  }\n}";
    let page = browser
        .post(
            "/settings/agent-options",
            &[("options", overridden), ("action", "review")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains(
        "line 5: `overrides.platforms.windows.options.distributed_interval` must be a number"
    ));
    let unknown = "{\n  \"config\": {},\n  \"bogus\": 1\n}";
    let page = browser
        .post(
            "/settings/agent-options",
            &[("options", unknown), ("action", "review")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("line 3: `bogus` is not a known key"),
        "{}",
        page.body
    );
    // The JSON API checks the same way.
    let (status, answer) = f
        .admin(
            "PATCH",
            "/api/v1/fleet/config",
            Some(
                json!({"agent_options": {"config": {"options": {"distributed_interval": "ten"}}}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"]
        .as_str()
        .unwrap_or_default()
        .contains("`config.options.distributed_interval` must be a number"));

    // Review: the diff marks removed and added lines in text.
    let before =
        f.break_glass_ok("GET", "/api/v1/fleet/config", None).await["agent_options"].clone();
    assert_eq!(interval(&before), 10);
    let mut proposed = before.clone();
    proposed["config"]["options"]["distributed_interval"] = json!(42);
    proposed["overrides"] =
        json!({"platforms": {"darwin": {"options": {"distributed_interval": 90}}}});
    let text = serde_json::to_string_pretty(&proposed).expect("json");
    let review = browser
        .post(
            "/settings/agent-options",
            &[("options", &text), ("action", "review")],
        )
        .await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert!(
        review
            .body
            .contains("<span class=\"diff-del\">-       &quot;distributed_interval&quot;: 10,"),
        "{}",
        review.body
    );
    assert!(review
        .body
        .contains("<span class=\"diff-add\">+       &quot;distributed_interval&quot;: 42,"));
    assert!(review
        .body
        .contains("<span class=\"diff-add\">+       &quot;darwin&quot;: {"));
    assert_eq!(
        interval(&f.break_glass_ok("GET", "/api/v1/fleet/config", None).await["agent_options"]),
        10,
        "a review saves nothing"
    );
    let fingerprint = reviewed(&review);

    // Save applies it.
    let saved = browser
        .post(
            "/settings/agent-options",
            &[
                ("options", &text),
                ("action", "save"),
                ("reviewed", &fingerprint),
            ],
        )
        .await;
    see_other(&saved, "/settings/agent-options?notice=saved");
    let now = f.break_glass_ok("GET", "/api/v1/fleet/config", None).await["agent_options"].clone();
    assert_eq!(now, proposed);

    // A save against options that changed since the review is refused, and changes nothing.
    proposed["config"]["options"]["distributed_interval"] = json!(7);
    let text = serde_json::to_string_pretty(&proposed).expect("json");
    let review = browser
        .post(
            "/settings/agent-options",
            &[("options", &text), ("action", "review")],
        )
        .await;
    let stale = reviewed(&review);
    let mut meanwhile = now.clone();
    meanwhile["config"]["options"]["distributed_interval"] = json!(11);
    f.break_glass_ok(
        "PATCH",
        "/api/v1/fleet/config",
        Some(json!({ "agent_options": meanwhile })),
    )
    .await;
    let refused = browser
        .post(
            "/settings/agent-options",
            &[("options", &text), ("action", "save"), ("reviewed", &stale)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused
        .body
        .contains("changed these agent options since your review"));
    assert!(
        refused
            .body
            .contains("&quot;distributed_interval&quot;: 11,"),
        "the diff is against the options as they are now"
    );
    assert_ne!(reviewed(&refused), stale);
    assert_eq!(
        interval(&f.break_glass_ok("GET", "/api/v1/fleet/config", None).await["agent_options"]),
        11
    );

    // A team's options: it has none of its own until saved; the global ones stay.
    let team = create_team(&f, "Ops").await;
    let editor = browser.get(&format!("/teams/{team}/agent-options")).await;
    assert_eq!(editor.status, StatusCode::OK);
    assert!(editor.body.contains("no agent options of its own"));
    let own = json!({"config": {"options": {"distributed_interval": 5}}});
    let text = serde_json::to_string_pretty(&own).expect("json");
    let review = browser
        .post(
            &format!("/teams/{team}/agent-options"),
            &[("options", &text), ("action", "review")],
        )
        .await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(review.body.contains("+   &quot;config&quot;: {"));
    let saved = browser
        .post(
            &format!("/teams/{team}/agent-options"),
            &[
                ("options", &text),
                ("action", "save"),
                ("reviewed", &reviewed(&review)),
            ],
        )
        .await;
    see_other(&saved, &format!("/teams/{team}/agent-options?notice=saved"));
    let teams = f.break_glass_ok("GET", "/api/v1/fleet/teams", None).await;
    let stored = teams["teams"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == team))
        .expect("team listed");
    assert_eq!(stored["agent_options"], own);
    assert_eq!(
        interval(&f.break_glass_ok("GET", "/api/v1/fleet/config", None).await["agent_options"]),
        11
    );
}

async fn refusals(family: Family) {
    let f = Flotilla::start(family).await;
    let one = create_team(&f, "One").await;
    let two = create_team(&f, "Two").await;

    // A team maintainer may not rename any team; a team admin only their own.
    let maintainer = f.user(None, &[(one, "maintainer")]).await;
    let page = Browser::new(&f, Some(maintainer.token.clone()))
        .post(&format!("/teams/{two}/rename"), &[("name", "Mine")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let team_admin = f.user(None, &[(one, "admin")]).await;
    let browser = Browser::new(&f, Some(team_admin.token.clone()));
    let page = browser
        .post(&format!("/teams/{two}/rename"), &[("name", "Mine")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("<h1>Not allowed</h1>"));
    let page = browser
        .post(&format!("/teams/{one}/rename"), &[("name", "One, renamed")])
        .await;
    see_other(&page, &format!("/teams/{one}?notice=renamed"));
    let page = browser
        .post(
            &format!("/teams/{two}/agent-options"),
            &[("options", "{}"), ("action", "review")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Another team's page is not theirs to read.
    assert_eq!(
        browser.get(&format!("/teams/{two}")).await.status,
        StatusCode::FORBIDDEN
    );
    let list = browser.get("/teams").await;
    assert!(list.body.contains("One, renamed") && !list.body.contains(">Two<"));
    assert!(!list.body.contains("Create team"));

    // An observer's forged posts are refused and change nothing.
    let names = team_names(&f).await;
    let secrets = team_secrets(&f, two).await;
    let global = global_secrets(&f).await;
    let config =
        f.break_glass_ok("GET", "/api/v1/fleet/config", None).await["agent_options"].clone();
    let observer = f.user(Some("observer"), &[]).await;
    let browser = Browser::new(&f, Some(observer.token.clone()));
    let options = r#"{"config": {"options": {"distributed_interval": 1}}}"#;
    let forged: Vec<(String, Vec<(&str, String)>)> = vec![
        ("/teams".into(), vec![("name", "Forged".into())]),
        (
            format!("/teams/{two}/rename"),
            vec![("name", "Forged".into())],
        ),
        (format!("/teams/{two}/delete"), vec![]),
        (format!("/teams/{two}/secrets"), vec![]),
        (
            format!("/teams/{two}/secrets/delete"),
            vec![("secret_hash", sha256_hex(&secrets[0]))],
        ),
        ("/teams/global/secrets".into(), vec![]),
        (
            format!("/teams/{two}/agent-options"),
            vec![
                ("options", options.into()),
                ("action", "save".into()),
                ("reviewed", "x".into()),
            ],
        ),
        (
            "/settings/agent-options".into(),
            vec![
                ("options", options.into()),
                ("action", "save".into()),
                ("reviewed", "x".into()),
            ],
        ),
    ];
    for (path, fields) in &forged {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = browser.post(path, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(team_names(&f).await, names);
    assert_eq!(team_secrets(&f, two).await, secrets);
    assert_eq!(global_secrets(&f).await, global);
    assert_eq!(
        f.break_glass_ok("GET", "/api/v1/fleet/config", None).await["agent_options"],
        config
    );
    // The observer reads the options, without an editor.
    let page = browser.get("/settings/agent-options").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<textarea"));
    assert!(page.body.contains("distributed_interval"));
}
