//! The Settings, Single sign-on and Activity pages driven like a browser, on both adapter
//! families: settings saved and shown on the My device page, SSO settings saved and read back
//! through the API, the activity log filtered and paged by its URL; other roles' forged posts
//! are refused and change nothing.

use flotilla::api::admin::sso::CALLBACK_PATH;
use flotilla_tests::harness::{Family, Flotilla, Setup};
use flotilla_tests::page_client::{Browser, Page};
use reqwest::StatusCode;
use serde_json::{json, Value};

flotilla_tests::both!(
    settings_are_saved_and_shown_on_my_device,
    sso_settings_are_saved,
    activity_is_filtered_and_paged
);

const DEVICE_TOKEN: &str = "7a1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4c";

/// A host with a Fleet Desktop token.
async fn host_with_token(f: &Flotilla) -> String {
    f.host_with_device_token(
        "0E0E0E0E-0000-0000-0000-0000000000AA",
        "desk-2",
        DEVICE_TOKEN,
    )
    .await
}

async fn config(f: &Flotilla) -> Value {
    let (status, config) = f.admin("GET", "/api/v1/fleet/config", None).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    config
}

async fn settings_are_saved_and_shown_on_my_device(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let page = browser.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"Flotilla\""), "the default name");
    assert!(page.body.contains(&f.base), "the server URL");
    assert!(page.body.contains("href=\"/settings/agent-options\""));
    assert!(page.body.contains("href=\"/settings/sso\""));

    let saved = browser
        .post(
            "/settings",
            &[
                ("org_name", "Acme Fleet"),
                ("contact_url", "https://help.acme.example/"),
                ("orbit_channel", "edge"),
                ("osqueryd_channel", "5.12"),
                ("desktop_channel", "stable"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), Some("/settings?notice=saved"));
    let now = config(&f).await;
    assert_eq!(now["org_info"]["org_name"], "Acme Fleet");
    assert_eq!(now["org_info"]["contact_url"], "https://help.acme.example/");
    assert_eq!(
        now["packager"]["default_channels"],
        json!({"orbit": "edge", "osqueryd": "5.12", "desktop": "stable"})
    );
    let (_, log) = f
        .admin(
            "GET",
            "/api/v1/fleet/activities?type=edited_app_config",
            None,
        )
        .await;
    assert_eq!(log["activities"][0]["actor_id"], admin.id, "recorded");

    // The My device page shows them.
    let token = host_with_token(&f).await;
    let device = f
        .http()
        .get(format!("{}/device/{token}", f.base))
        .send()
        .await
        .expect("device page")
        .text()
        .await
        .expect("html");
    assert!(device.contains("Acme Fleet"), "{device}");
    assert!(device.contains("https://help.acme.example/"));

    // Refused input comes back with what was typed; nothing changes.
    for (contact, channel, message) in [
        (
            "javascript:alert(1)",
            "edge",
            "contact link must be an https:// or http:// address",
        ),
        ("", "no way!", "must be a channel name"),
    ] {
        let refused = browser
            .post(
                "/settings",
                &[
                    ("org_name", "Other Name"),
                    ("contact_url", contact),
                    ("orbit_channel", channel),
                    ("osqueryd_channel", "stable"),
                    ("desktop_channel", "stable"),
                ],
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{contact} {channel}"
        );
        assert!(refused.body.contains(message), "{}", refused.body);
        assert!(refused.body.contains("value=\"Other Name\""), "input kept");
    }
    assert_eq!(config(&f).await, now, "nothing changed");

    // Others read them, without a form; their forged posts are refused.
    for (role, on_team) in [
        ("maintainer", false),
        ("observer", false),
        ("observer", true),
    ] {
        let caller = if on_team {
            let (_, team) = f
                .admin("POST", "/api/v1/fleet/teams", Some(json!({"name": "T"})))
                .await;
            let id = team["team"]["id"].as_u64().unwrap_or(1);
            f.user(None, &[(id, role)]).await
        } else {
            f.user(Some(role), &[]).await
        };
        let theirs = Browser::new(&f, Some(caller.token.clone()));
        let page = theirs.get("/settings").await;
        assert_eq!(page.status, StatusCode::OK, "{role}");
        assert!(page.body.contains("value=\"Acme Fleet\""));
        assert!(
            !page.body.contains("action=\"/settings\""),
            "{role}: no form"
        );
        assert!(!page.body.contains("href=\"/settings/sso\""), "{role}");
        let forged = theirs
            .post(
                "/settings",
                &[
                    ("org_name", "Hijacked"),
                    ("contact_url", ""),
                    ("orbit_channel", "stable"),
                    ("osqueryd_channel", "stable"),
                    ("desktop_channel", "stable"),
                ],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{role}");
        let forged = theirs
            .post(
                "/settings/sso",
                &[("idp_name", "Hijacked"), ("jit_default_role", "admin")],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{role}");
    }
    assert_eq!(config(&f).await, now, "nothing changed");
}

async fn sso_settings(f: &Flotilla) -> Value {
    let (status, settings) = f.admin("GET", "/api/v1/fleet/sso/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    settings["sso_settings"].clone()
}

fn sso_form<'a>(idp: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("idp_name", idp),
        ("issuer_url", "http://127.0.0.1:9/"),
        ("client_id", "flotilla-ui"),
        ("jit_default_role", "maintainer"),
    ];
    fields.extend_from_slice(extra);
    fields
}

async fn sso_settings_are_saved(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let page = browser.get("/settings/sso").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("{}{CALLBACK_PATH}", f.base)),
        "the callback URL to register"
    );
    assert!(page.body.contains("SsoClientSecretArn"));
    assert!(page.body.contains("Not configured"));

    let saved = browser
        .post(
            "/settings/sso",
            &sso_form(
                "Okta",
                &[
                    ("enable_jit_provisioning", "true"),
                    ("trust_unverified_email", "true"),
                ],
            ),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), Some("/settings/sso?notice=saved"));
    let now = sso_settings(&f).await;
    assert_eq!(now["idp_name"], "Okta");
    assert_eq!(now["issuer_url"], "http://127.0.0.1:9/");
    assert_eq!(now["client_id"], "flotilla-ui");
    assert_eq!(now["enable_jit_provisioning"], true);
    assert_eq!(now["jit_default_role"], "maintainer");
    assert_eq!(now["trust_unverified_email"], true);
    assert_eq!(now["enable_sso"], false);
    assert_eq!(now["sso_required"], false);
    let page = browser.get("/settings/sso?notice=saved").await;
    assert!(page.body.contains("value=\"Okta\""));

    // Enabling without the deployment's client secret, or requiring SSO without enabling it:
    // refused, the form kept.
    for (extra, message) in [
        (
            ("enable_sso", "true"),
            "no OpenID Connect client secret is configured",
        ),
        (("sso_required", "true"), "sso_required needs enable_sso"),
    ] {
        let refused = browser
            .post("/settings/sso", &sso_form("Okta 2", &[extra]))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.body.contains(message), "{}", refused.body);
        assert!(refused.body.contains("value=\"Okta 2\""), "input kept");
    }
    assert_eq!(sso_settings(&f).await, now, "nothing changed");

    // With a client secret, enabling reaches the provider first: an unreachable one is refused.
    let f = Flotilla::start_with(
        family,
        Setup {
            secrets: vec![("sso-client-secret".into(), "s3cret".into())],
            settings: Some(Box::new(|settings, name| {
                settings.identity.sso_client_secret = Some(name("sso-client-secret"));
            })),
        },
    )
    .await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));
    assert!(browser
        .get("/settings/sso")
        .await
        .body
        .contains("Configured"));
    let refused: Page = browser
        .post(
            "/settings/sso",
            &sso_form("Okta", &[("enable_sso", "true")]),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(sso_settings(&f).await["enable_sso"], false);
}

/// How many rows of this type the page lists.
fn rows_of(page: &Page, kind: &str) -> usize {
    page.body
        .matches(&format!("<td>{}</td>", kind.replace('_', " ")))
        .count()
}

/// The "Older" link's path.
fn older(page: &Page) -> Option<String> {
    let at = page.body.find("rel=\"next\"")?;
    let start = page.body[..at].rfind("href=\"")? + "href=\"".len();
    Some(page.body[start..].split('"').next()?.replace("&amp;", "&"))
}

async fn activity_is_filtered_and_paged(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let other = f.user(Some("observer"), &[]).await;
    // More than a page of one actor's edits (25 a page), each a second after the last (the
    // test clock stands still otherwise, and order within a millisecond is the ids' random).
    for i in 0..30 {
        f.advance_secs(1);
        let (status, _) = f
            .admin_as(
                Some(&admin.token),
                "PATCH",
                &format!("/api/v1/fleet/users/{}", other.id),
                Some(json!({"name": format!("Other {i}")})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let all = browser.get("/activity").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(rows_of(&all, "edited_user"), 25, "the newest page");
    assert!(
        all.body.contains("<dt>user id</dt>"),
        "details as key: value"
    );
    assert!(all.body.contains("127.0.0.1"), "the source address");
    assert!(all.body.contains("<time datetime="));

    let first = browser
        .get(&format!("/activity?actor={}&type=edited_user", admin.id))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(rows_of(&first, "edited_user"), 25);
    assert_eq!(rows_of(&first, "user_logged_in"), 0);
    let next = older(&first).expect("an Older link");
    assert!(
        next.starts_with(&format!(
            "/activity?actor={}&type=edited_user&cursor=",
            admin.id
        )),
        "{next}"
    );
    let second = browser.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(rows_of(&second, "edited_user"), 5);
    assert!(older(&second).is_none(), "the last page");
    assert!(second.body.contains(">Newest</a>"));

    // By actor alone: the other user did only sign in.
    let theirs = browser.get(&format!("/activity?actor={}", other.id)).await;
    assert_eq!(rows_of(&theirs, "user_logged_in"), 1);
    assert_eq!(rows_of(&theirs, "edited_user"), 0);
    assert!(theirs.body.contains(&other.email));
    // By type alone.
    let logins = browser.get("/activity?actor=&type=user_logged_in").await;
    assert_eq!(rows_of(&logins, "user_logged_in"), 2);
    assert_eq!(rows_of(&logins, "edited_user"), 0);

    // What no activity can be: told, not an empty success.
    let bad = browser.get("/activity?type=Not+A+Type%21").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("is not an activity type"));
    assert!(bad.body.contains("value=\"Not A Type!\""), "input kept");
    let bad = browser.get("/activity?cursor=garbage").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Team roles do not read the log.
    let (_, team) = f
        .admin("POST", "/api/v1/fleet/teams", Some(json!({"name": "T"})))
        .await;
    let team_id = team["team"]["id"].as_u64().expect("team");
    let team_admin = f.user(None, &[(team_id, "admin")]).await;
    let theirs = Browser::new(&f, Some(team_admin.token.clone()));
    assert_eq!(theirs.get("/activity").await.status, StatusCode::FORBIDDEN);
}
