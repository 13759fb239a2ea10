//! The admin UI's permission matrix: every page route that needs a session, fetched or posted
//! by a user of each role (globally and on team 1) with the session cookie, as a browser
//! would, on both adapter families. Written out by hand, apart from the code's permission
//! table; a page route without a line here fails the test. What a role may not do is refused
//! (403) whatever the page shows; the navigation shows only what the role may use.

use std::collections::BTreeSet;

use flotilla::api::routes::Access;
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
    ("GET", "/add-hosts", "YYNNYYNN"),
    ("GET", "/add-hosts/osquery.flags", "YYNNYYNN"),
    ("GET", "/add-hosts/secret.txt", "YYNNYYNN"),
    ("GET", "/add-hosts/server.pem", "YYNNYYNN"),
    ("POST", "/add-hosts/build", "YYNNYYNN"),
    ("GET", "/add-hosts/builds/{id}", "YYNNYYNN"),
    ("GET", "/add-hosts/builds/{id}/progress", "YYNNYYNN"),
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
    // Last: it ends the session (the caller signs in again).
    ("POST", "/logout", "YYYYYYYY"),
];

/// Links the navigation shows, and the permission (by matrix row) that shows them.
const NAV: &[(&str, &str)] = &[
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
    /// A user whose page, roles and password reset the matrix posts.
    target: u64,
    /// An API-only user (a new token).
    robot: u64,
    /// A user the admin's line deletes.
    doomed: u64,
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
        target: make_user(f, "matrix-target@example.com", false).await,
        robot: make_user(f, "matrix-robot@example.com", true).await,
        doomed: make_user(f, "matrix-doomed@example.com", false).await,
    }
}

/// The path and form fields for a line of the matrix.
fn prepare(template: &str, user: &TestUser, w: &World) -> (String, Vec<(String, String)>) {
    let id = match template {
        "/users/{id}/token" => w.robot,
        "/users/{id}/delete" => w.doomed,
        _ => w.target,
    };
    let text = |s: &str| s.to_string();
    let fields: Vec<(&str, String)> = match template {
        "/account/password" => vec![
            ("old_password", user.password.clone()),
            ("new_password", format!("{}x", user.password)),
            ("new_password_confirmation", format!("{}x", user.password)),
        ],
        "/add-hosts/build" => vec![
            ("platform", "deb".to_string()),
            ("team", w.team1.to_string()),
            ("orbit_channel", "stable".to_string()),
        ],
        "/users/new" => vec![
            ("name", text("Matrix new")),
            ("email", text("matrix-new@example.com")),
            ("password", text("matrix password 2!")),
            ("global_role", text("observer")),
        ],
        "/users/{id}" => vec![
            ("name", text("Matrix target")),
            ("email", text("matrix-target@example.com")),
            ("global_role", text("maintainer")),
        ],
        "/users/{id}/password-reset" => vec![("require", text("true"))],
        "/settings" => vec![
            ("org_name", text("Matrix org")),
            ("contact_url", text("https://help.example.com/")),
            ("orbit_channel", text("stable")),
            ("osqueryd_channel", text("stable")),
            ("desktop_channel", text("stable")),
        ],
        "/settings/sso" => vec![
            ("idp_name", text("Matrix IdP")),
            ("issuer_url", text("https://idp.example.com/")),
            ("client_id", text("matrix")),
            ("jit_default_role", text("observer")),
        ],
        _ => Vec::new(),
    };
    let path = match template {
        "/add-hosts/builds/{id}" => format!("/add-hosts/builds/{}", w.package),
        "/add-hosts/builds/{id}/progress" => format!("/add-hosts/builds/{}/progress", w.package),
        "/carves/{id}" => format!("/carves/{}", w.carve),
        other => other.replace("{id}", &id.to_string()),
    };
    (
        path,
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
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
            let (path, mut fields) = prepare(template, &user, &w);
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
                    "{who} {method} {path}: {} {:?}",
                    page.status,
                    page.location()
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
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    // Nothing here gets past sign-in: the ids need not exist.
    let w = World {
        team1: 1,
        package: "00000000-0000-0000-0000-000000000000".into(),
        carve: 1,
        target: 1,
        robot: 1,
        doomed: 1,
    };
    for (method, template, _) in MATRIX {
        let (path, fields) = prepare(template, &admin, &w);
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
