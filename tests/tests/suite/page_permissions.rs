//! The admin UI's permission matrix: every page route that needs a session, fetched or posted
//! by a user of each role (globally and on team 1) with the session cookie, as a browser
//! would, on both adapter families. Written out by hand, apart from the code's permission
//! table; a page route without a line here fails the test. What a role may not do is refused
//! (403) whatever the page shows; the navigation shows only what the role may use.

use std::collections::BTreeSet;

use flotilla::api::routes::Access;
use flotilla::domain::credentials::sha256_hex;
use flotilla_tests::harness::{Family, Flotilla, Setup, TestUser};
use flotilla_tests::osquery_client::OsqueryClient;
use flotilla_tests::page_client::{Browser, Page};
use flotilla_web::route_table;
use reqwest::StatusCode;

flotilla_tests::both!(every_page_against_every_role, pages_need_a_session);

/// The callers, in the order of the matrix's columns.
const CALLERS: [(&str, &str, bool); 8] = [
    ("admin", "admin", false),
    ("maintainer", "maintainer", false),
    ("observer_plus", "observer_plus", false),
    ("observer", "observer", false),
    ("team admin", "admin", true),
    ("team maintainer", "maintainer", true),
    ("team observer_plus", "observer_plus", true),
    ("team observer", "observer", true),
];

/// Y: allowed (200, or 303 anywhere but back to sign in); N: 403.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/", "YYYYYYYY"),
    ("GET", "/account", "YYYYYYYY"),
    ("POST", "/account/password", "YYYYYYYY"),
    ("POST", "/account/token", "YYYYYYYY"),
    ("GET", "/add-hosts", "YYNNYYNN"),
    ("GET", "/add-hosts/osquery.flags", "YYNNYYNN"),
    ("GET", "/add-hosts/secret.txt", "YYNNYYNN"),
    ("GET", "/add-hosts/server.pem", "YYNNYYNN"),
    ("POST", "/add-hosts/build", "YYNNYYNN"),
    ("GET", "/add-hosts/builds/{id}", "YYNNYYNN"),
    ("GET", "/add-hosts/builds/{id}/progress", "YYNNYYNN"),
    ("GET", "/hosts", "YYYYYYYY"),
    ("POST", "/hosts/bulk", "YYNNYYNN"),
    ("GET", "/hosts/{id}", "YYYYYYYY"),
    ("POST", "/hosts/{id}/refetch", "YYYYYYYY"),
    ("POST", "/hosts/{id}/transfer", "YYNNYYNN"),
    ("POST", "/hosts/{id}/delete", "YYNNYYNN"),
    ("GET", "/carves", "YYNNYYNN"),
    ("GET", "/carves/{id}", "YYNNYYNN"),
    ("GET", "/users", "YNNNNNNN"),
    ("GET", "/users/new", "YNNNNNNN"),
    ("POST", "/users/new", "YNNNNNNN"),
    ("GET", "/users/{id}", "YNNNNNNN"),
    ("POST", "/users/{id}", "YNNNNNNN"),
    ("POST", "/users/{id}/password-reset", "YNNNNNNN"),
    ("POST", "/users/{id}/token", "YNNNNNNN"),
    ("POST", "/users/{id}/delete", "YNNNNNNN"),
    ("GET", "/activity", "YYYYNNNN"),
    ("GET", "/settings", "YYYYYYYY"),
    ("POST", "/settings", "YNNNNNNN"),
    ("GET", "/settings/sso", "YNNNNNNN"),
    ("POST", "/settings/sso", "YNNNNNNN"),
    ("GET", "/teams", "YYYYYYYY"),
    ("POST", "/teams", "YNNNNNNN"),
    ("GET", "/teams/global", "YYNNNNNN"),
    ("POST", "/teams/global/secrets", "YYNNNNNN"),
    ("POST", "/teams/global/secrets/delete", "YYNNNNNN"),
    ("GET", "/teams/{id}", "YYYYYYYY"),
    ("POST", "/teams/{id}/rename", "YNNNYNNN"),
    ("POST", "/teams/{id}/delete", "YNNNNNNN"),
    ("POST", "/teams/{id}/secrets", "YYNNYYNN"),
    ("POST", "/teams/{id}/secrets/delete", "YYNNYYNN"),
    ("GET", "/teams/{id}/agent-options", "YYYYYYYY"),
    ("POST", "/teams/{id}/agent-options", "YNNNYNNN"),
    ("GET", "/settings/agent-options", "YYYYYYYY"),
    ("POST", "/settings/agent-options", "YNNNNNNN"),
    ("GET", "/queries", "YYYYYYYY"),
    ("POST", "/queries", "YYNNYYNN"),
    ("GET", "/queries/new", "YYNNYYNN"),
    ("GET", "/queries/{id}", "YYYYYYYY"),
    ("POST", "/queries/{id}", "YYNNYYNN"),
    ("POST", "/queries/{id}/delete", "YYNNYYNN"),
    // A campaign on team 1 (the break-glass token's).
    ("GET", "/live", "YYYYYYYY"),
    ("POST", "/live", "YYYNYYYN"),
    ("GET", "/live/{id}", "YYYYYYYY"),
    ("GET", "/live/{id}/progress", "YYYYYYYY"),
    ("GET", "/live/{id}/errors", "YYYYYYYY"),
    ("POST", "/live/{id}/stop", "YYYNYYYN"),
    ("POST", "/live/{id}/export", "YYYYYYYY"),
    // Last: it ends the session (the caller signs in again).
    ("POST", "/logout", "YYYYYYYY"),
];

/// Links the navigation shows, and the permission (by matrix row) that shows them.
const NAV: &[(&str, &str)] = &[
    ("/hosts", "YYYYYYYY"),
    ("/live", "YYYYYYYY"),
    ("/add-hosts", "YYNNYYNN"),
    ("/carves", "YYNNYYNN"),
    ("/users", "YNNNNNNN"),
    ("/activity", "YYYYNNNN"),
    ("/settings", "YYYYYYYY"),
];

struct World {
    team1: u64,
    /// A package (not built: no job runs) and a carve of a team-1 host, for their pages.
    package: String,
    carve: u64,
    /// A host of team 1 (the carve's).
    host: u64,
    /// A user whose page, roles and password reset the matrix posts.
    target: u64,
    /// An API-only user (a new token).
    robot: u64,
    /// A user the admin's line deletes.
    doomed: u64,
    /// A saved query of team 1.
    query1: u64,
    /// A live query on team 1.
    campaign1: u64,
}

/// A root.json to build from (nothing is built here) and a certificate to hand out.
fn setup() -> Setup {
    Setup {
        settings: Some(Box::new(|settings, _| {
            settings.packager.update_root = Some(r#"{"signed":{"_type":"root"}}"#.into());
            settings.server_certificate =
                Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into());
        })),
        ..Setup::default()
    }
}

async fn make_user(f: &Flotilla, email: &str, api_only: bool) -> u64 {
    let mut body = serde_json::json!({"name": email, "email": email, "global_role": "observer"});
    if api_only {
        body["api_only"] = serde_json::json!(true);
    } else {
        body["password"] = serde_json::json!("matrix password 1!");
    }
    let (status, user) = f
        .admin("POST", "/api/v1/fleet/users/admin", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user["user"]["id"].as_u64().expect("user id")
}

/// Names made unique across the matrix's calls.
static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn next() -> usize {
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The listed secrets (their values only, as a request takes them) and `secret`.
fn wanted(listed: &serde_json::Value, secret: &str) -> serde_json::Value {
    let mut secrets: Vec<serde_json::Value> = listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| serde_json::json!({ "secret": s["secret"] }))
        .collect();
    secrets.push(serde_json::json!({ "secret": secret }));
    serde_json::Value::Array(secrets)
}

/// Adds `secret` to the enroll secrets of a team (or the global ones).
async fn add_secret(f: &Flotilla, team: Option<u64>, secret: &str) {
    match team {
        Some(team) => {
            let path = format!("/api/v1/fleet/teams/{team}/secrets");
            let secrets = wanted(
                &f.break_glass_ok("GET", &path, None).await["secrets"],
                secret,
            );
            f.break_glass_ok(
                "PATCH",
                &path,
                Some(serde_json::json!({ "secrets": secrets })),
            )
            .await;
        }
        None => {
            let path = "/api/v1/fleet/spec/enroll_secret";
            let secrets = wanted(
                &f.break_glass_ok("GET", path, None).await["spec"]["secrets"],
                secret,
            );
            f.break_glass_ok(
                "POST",
                path,
                Some(serde_json::json!({ "spec": { "secrets": secrets } })),
            )
            .await;
        }
    }
}

async fn new_query(f: &Flotilla, team: u64) -> u64 {
    f.break_glass_ok(
        "POST",
        "/api/v1/fleet/queries",
        Some(serde_json::json!({"name": format!("page query {}", next()), "query": "SELECT 1", "team_id": team})),
    )
    .await["query"]["id"]
        .as_u64()
        .expect("query id")
}

/// The id of the host with this hardware UUID.
async fn host_id(f: &Flotilla, uuid: &str) -> u64 {
    f.break_glass_ok("GET", &format!("/api/v1/fleet/hosts?query={uuid}"), None)
        .await["hosts"][0]["id"]
        .as_u64()
        .expect("host id")
}

async fn new_campaign(f: &Flotilla, team: u64) -> u64 {
    f.break_glass_ok(
        "POST",
        "/api/v1/fleet/queries/run",
        Some(serde_json::json!({"query": "SELECT 1", "selected": {"teams": [team]}})),
    )
    .await["campaign"]["id"]
        .as_u64()
        .expect("campaign id")
}

async fn build_world(f: &Flotilla) -> World {
    let (status, team) = f
        .admin(
            "POST",
            "/api/v1/fleet/teams",
            Some(serde_json::json!({"name": "Team one"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{team}");
    let team1 = team["team"]["id"].as_u64().expect("team id");
    let secret = "team-one-secret";
    let (status, answer) = f
        .admin(
            "PATCH",
            &format!("/api/v1/fleet/teams/{team1}/secrets"),
            Some(serde_json::json!({"secrets": [{"secret": secret}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = f
        .admin_as(
            None,
            "POST",
            "/create",
            Some(serde_json::json!({"type": "deb", "fleet_url": f.base, "enroll_secret": secret})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let package = answer["package_id"].as_str().expect("package").to_string();
    let mut host = OsqueryClient::new(&f.base, secret, "FA6E0000-0000-0000-0000-000000000001");
    assert_eq!(host.enroll().await.status, StatusCode::OK);
    host.carve(b"carved bytes", 2_000_000, "page-permissions")
        .await;
    let (status, carves) = f.admin("GET", "/api/v1/fleet/carves", None).await;
    assert_eq!(status, StatusCode::OK, "{carves}");
    let carve = carves["carves"][0]["id"].as_u64().expect("carve id");
    World {
        team1,
        package,
        carve,
        host: host_id(f, &host.uuid).await,
        target: make_user(f, "matrix-target@example.com", false).await,
        robot: make_user(f, "matrix-robot@example.com", true).await,
        doomed: make_user(f, "matrix-doomed@example.com", false).await,
        query1: new_query(f, team1).await,
        campaign1: new_campaign(f, team1).await,
    }
}

/// The path and form fields for a line of the matrix (what a destructive line acts on is
/// made for it).
async fn prepare(
    f: &Flotilla,
    w: &World,
    template: &str,
    user: &TestUser,
) -> (String, Vec<(String, String)>) {
    let n = next();
    let team1 = w.team1.to_string();
    let team_field = format!("team_{team1}");
    let (path, fields): (String, Vec<(&str, String)>) = match template {
        "/account/password" => (
            template.into(),
            vec![
                ("old_password", user.password.clone()),
                ("new_password", format!("{}x", user.password)),
                ("new_password_confirmation", format!("{}x", user.password)),
            ],
        ),
        "/teams" => (template.into(), vec![("name", format!("Page team {n}"))]),
        "/teams/global/secrets/delete" => {
            let secret = format!("global-doomed-{n}");
            add_secret(f, None, &secret).await;
            (template.into(), vec![("secret_hash", sha256_hex(&secret))])
        }
        "/teams/{id}/rename" => (
            format!("/teams/{}/rename", w.team1),
            vec![("name", "Team one".into())],
        ),
        "/teams/{id}/delete" => {
            let doomed = f
                .break_glass_ok(
                    "POST",
                    "/api/v1/fleet/teams",
                    Some(serde_json::json!({"name": format!("Doomed {n}")})),
                )
                .await["team"]["id"]
                .as_u64()
                .expect("team id");
            (format!("/teams/{doomed}/delete"), Vec::new())
        }
        "/teams/{id}/secrets/delete" => {
            let secret = format!("team-doomed-{n}");
            add_secret(f, Some(w.team1), &secret).await;
            (
                format!("/teams/{}/secrets/delete", w.team1),
                vec![("secret_hash", sha256_hex(&secret))],
            )
        }
        "/teams/{id}/agent-options" | "/settings/agent-options" => (
            template.replace("{id}", &team1),
            vec![
                (
                    "options",
                    r#"{"config": {"options": {"distributed_interval": 10}}}"#.into(),
                ),
                ("action", "review".into()),
            ],
        ),
        "/queries" => (
            template.into(),
            vec![
                ("name", format!("page query {n}")),
                ("query", "SELECT 1".into()),
                ("interval", "0".into()),
                ("logging", "differential".into()),
                ("team_id", team1.clone()),
            ],
        ),
        "/queries/{id}" => (
            format!("/queries/{}", w.query1),
            vec![
                ("name", format!("edited page query {n}")),
                ("query", "SELECT 2".into()),
                ("interval", "60".into()),
                ("logging", "snapshot".into()),
            ],
        ),
        "/queries/{id}/delete" => (
            format!("/queries/{}/delete", new_query(f, w.team1).await),
            Vec::new(),
        ),
        "/add-hosts/build" => (
            template.into(),
            vec![
                ("platform", "deb".to_string()),
                ("team", team1.clone()),
                ("orbit_channel", "stable".to_string()),
            ],
        ),
        "/add-hosts/builds/{id}" | "/add-hosts/builds/{id}/progress" => {
            (template.replace("{id}", &w.package), Vec::new())
        }
        "/carves/{id}" => (template.replace("{id}", &w.carve.to_string()), Vec::new()),
        "/hosts/bulk" => (
            template.into(),
            vec![
                ("action", "transfer".into()),
                ("ids", w.host.to_string()),
                ("transfer_to", team1.clone()),
                ("confirm", "yes".into()),
            ],
        ),
        "/hosts/{id}" | "/hosts/{id}/refetch" => {
            (template.replace("{id}", &w.host.to_string()), Vec::new())
        }
        "/hosts/{id}/transfer" => (
            template.replace("{id}", &w.host.to_string()),
            vec![("team_id", team1.clone())],
        ),
        "/hosts/{id}/delete" => {
            let uuid = format!("FA6E0000-0000-0000-0001-{n:012}");
            let mut doomed = OsqueryClient::new(&f.base, "team-one-secret", &uuid);
            assert_eq!(doomed.enroll().await.status, StatusCode::OK);
            (
                template.replace("{id}", &host_id(f, &uuid).await.to_string()),
                Vec::new(),
            )
        }
        "/live" => (
            template.into(),
            vec![
                ("query", "SELECT 1".into()),
                (team_field.as_str(), "on".into()),
            ],
        ),
        "/live/{id}" | "/live/{id}/progress" | "/live/{id}/errors" => (
            template.replace("{id}", &w.campaign1.to_string()),
            Vec::new(),
        ),
        "/live/{id}/stop" => (
            template.replace("{id}", &new_campaign(f, w.team1).await.to_string()),
            Vec::new(),
        ),
        "/live/{id}/export" => (
            template.replace("{id}", &w.campaign1.to_string()),
            vec![("format", "csv".into())],
        ),
        "/users/new" => (
            template.into(),
            vec![
                ("name", "Matrix new".into()),
                ("email", format!("matrix-new-{n}@example.com")),
                ("password", "matrix password 2!".into()),
                ("global_role", "observer".into()),
            ],
        ),
        "/users/{id}/token" => (template.replace("{id}", &w.robot.to_string()), Vec::new()),
        "/users/{id}/delete" => (template.replace("{id}", &w.doomed.to_string()), Vec::new()),
        "/users/{id}/password-reset" => (
            template.replace("{id}", &w.target.to_string()),
            vec![("require", "true".into())],
        ),
        "/users/{id}" => (
            template.replace("{id}", &w.target.to_string()),
            vec![
                ("name", "Matrix target".into()),
                ("email", "matrix-target@example.com".into()),
                ("global_role", "maintainer".into()),
            ],
        ),
        "/settings" => (
            template.into(),
            vec![
                ("org_name", "Matrix org".into()),
                ("contact_url", "https://help.example.com/".into()),
                ("orbit_channel", "stable".into()),
                ("osqueryd_channel", "stable".into()),
                ("desktop_channel", "stable".into()),
            ],
        ),
        "/settings/sso" => (
            template.into(),
            vec![
                ("idp_name", "Matrix IdP".into()),
                ("issuer_url", "https://idp.example.com/".into()),
                ("client_id", "matrix".into()),
                ("jit_default_role", "observer".into()),
            ],
        ),
        other => (other.replace("{id}", &team1), Vec::new()),
    };
    (
        path,
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The page's error message (`role="alert"`), for a failure's report.
fn alert_text(body: &str) -> &str {
    body.split_once("role=\"alert\"")
        .and_then(|(_, rest)| rest.split_once('<'))
        .map_or("", |(text, _)| text.trim_start_matches('>'))
}

fn allowed(page: &Page) -> bool {
    page.status == StatusCode::OK
        || (page.status == StatusCode::SEE_OTHER
            && !page.location().unwrap_or("").starts_with("/login?"))
}

async fn every_page_against_every_role(family: Family) {
    let f = Flotilla::start_with(family, setup()).await;
    let guarded: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .filter(|r| matches!(r.access, Access::PageGlobal(_) | Access::PageTeam(_)))
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let listed: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(guarded, listed, "every page route has a line in the matrix");

    let w = build_world(&f).await;
    for (column, (who, role, on_team)) in CALLERS.iter().enumerate() {
        let mut user = if *on_team {
            f.user(None, &[(w.team1, role)]).await
        } else {
            f.user(Some(role), &[]).await
        };
        let mut browser = Browser::new(&f, Some(user.token.clone()));
        let dashboard = browser.get("/").await;
        for (link, row) in NAV {
            let shown = dashboard.body.contains(&format!("href=\"{link}\""));
            assert_eq!(
                shown,
                row.as_bytes()[column] == b'Y',
                "{who}: nav link {link}"
            );
        }
        for (method, template, row) in MATRIX {
            let (path, mut fields) = prepare(&f, &w, template, &user).await;
            let page = if *method == "GET" {
                browser.get(&path).await
            } else {
                let csrf = browser.get("/account").await.csrf().expect("csrf");
                fields.push(("csrf_token".into(), csrf));
                browser.post_raw(&path, &fields, Some(&f.base)).await
            };
            match row.as_bytes()[column] {
                b'Y' => assert!(
                    allowed(&page),
                    "{who} {method} {path}: {} {:?} {}",
                    page.status,
                    page.location(),
                    alert_text(&page.body)
                ),
                b'N' => assert_eq!(page.status, StatusCode::FORBIDDEN, "{who} {method} {path}"),
                other => panic!("unknown expectation {}", other as char),
            }
            if *template == "/account/password" {
                user.password.push('x');
            }
        }
        // Signed out: the old cookie opens nothing.
        let page = browser.get("/").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{who}: after sign-out");
        browser.session = None;
    }
}

async fn pages_need_a_session(family: Family) {
    let f = Flotilla::start_with(family, setup()).await;
    let admin = f.user(Some("admin"), &[]).await;
    let w = build_world(&f).await;
    for (method, template, _) in MATRIX {
        let (path, fields) = prepare(&f, &w, template, &admin).await;
        let anonymous = Browser::new(&f, None);
        let page = if *method == "GET" {
            anonymous.get(&path).await
        } else {
            anonymous.post_raw(&path, &fields, Some(&f.base)).await
        };
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{method} {path}");
        let location = page.location().unwrap_or_default();
        assert!(
            location.starts_with("/login?next="),
            "{method} {path}: {location}"
        );
        if *method == "GET" {
            let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
            assert_eq!(location, format!("/login?next={next}"));
        }
        // A bearer token is not a browser's session: pages take the cookie only.
        if *method != "GET" {
            continue;
        }
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(format!("{}{path}", f.base))
            .bearer_auth(&admin.token)
            .send()
            .await
            .expect("GET");
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{path} with a bearer token"
        );
    }
    // A form without the CSRF field, or from another site, is refused; so is a garbage session.
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let csrf = browser.get("/account").await.csrf().expect("csrf");
    let fields = |token: &str| {
        vec![
            ("old_password".to_string(), admin.password.clone()),
            ("new_password".to_string(), format!("{}y", admin.password)),
            (
                "new_password_confirmation".to_string(),
                format!("{}y", admin.password),
            ),
            ("csrf_token".to_string(), token.to_string()),
        ]
    };
    for (what, token, origin) in [
        ("no token", "", Some(f.base.as_str())),
        ("a wrong token", "AAAA", Some(f.base.as_str())),
        ("another site", csrf.as_str(), Some("https://evil.example")),
        ("no origin", csrf.as_str(), None),
    ] {
        let page = browser
            .post_raw("/account/password", &fields(token), origin)
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{what}");
        assert!(
            page.body.contains("<h1>Not allowed</h1>"),
            "{what}: an HTML refusal"
        );
    }
    let forged = Browser::new(&f, Some("not-a-session".into()));
    let page = forged.get("/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}
