//! Single sign-on through Flotilla's API against a real OpenID provider on loopback (npm
//! oidc-provider), on both adapter families: settings checked against the provider, the
//! browser flow with its state cookie, just-in-time provisioning, who may and may not sign
//! in, and SSO required for everyone but the break-glass and API tokens.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use flotilla::IdentitySettings;
use flotilla_tests::harness::{Family, Flotilla, Setup};
use flotilla_tests::oidc_provider::OidcProvider;

flotilla_tests::both!(
    sign_in_with_sso_provisions_and_reuses_accounts,
    sso_callbacks_are_bound_to_the_browser_and_used_once,
    who_may_sign_in_with_sso,
    sso_can_be_required,
);

const CLIENT_ID: &str = "flotilla-admin";
const CLIENT_SECRET: &str = "sso-client-secret-7d1e9a";
const PASSWORD: &str = "correct horse 7 battery";

struct Sso {
    f: Flotilla,
    provider: OidcProvider,
}

async fn start(family: Family, jit: bool) -> Sso {
    let f = Flotilla::start_with(
        family,
        Setup {
            secrets: vec![(
                IdentitySettings::LOCAL_SSO_CLIENT_SECRET.into(),
                CLIENT_SECRET.into(),
            )],
            settings: Some(Box::new(|settings, name| {
                settings.identity.sso_client_secret =
                    Some(name(IdentitySettings::LOCAL_SSO_CLIENT_SECRET));
            })),
        },
    )
    .await;
    let callback = format!("{}/api/v1/fleet/sso/callback", f.base);
    let provider = OidcProvider::start(CLIENT_ID, CLIENT_SECRET, &[&callback]).await;
    // A wrong issuer is refused when saved, before anyone depends on it.
    let (status, refused) = f
        .admin("PATCH", "/api/v1/fleet/sso/settings", Some(json!({"enable_sso": true, "issuer_url": "http://127.0.0.1:9", "client_id": CLIENT_ID})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, saved) = f
        .admin(
            "PATCH",
            "/api/v1/fleet/sso/settings",
            Some(json!({"enable_sso": true, "idp_name": "Test IdP", "issuer_url": provider.issuer(), "client_id": CLIENT_ID,
                "enable_jit_provisioning": jit, "jit_default_role": "observer_plus"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    Sso { f, provider }
}

/// The browser's side: start, sign in at the provider, come back. Answers the callback's
/// status, headers and body.
async fn sign_in(
    sso: &Sso,
    login: &str,
    relay: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let (url, state_cookie) = initiate(sso, relay).await;
    let callback = sso.provider.sign_in(&url, login).await;
    follow_callback(sso, &callback, Some(&state_cookie)).await
}

async fn initiate(sso: &Sso, relay: &str) -> (String, String) {
    let response = sso
        .f
        .http()
        .post(format!("{}/api/v1/fleet/sso", sso.f.base))
        .json(&json!({"relay_url": relay}))
        .send()
        .await
        .expect("initiate");
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-flotilla_sso="))
        .expect("state cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body: Value = response.json().await.expect("json");
    let pair = cookie.split(';').next().expect("pair").to_string();
    (body["url"].as_str().expect("url").to_string(), pair)
}

async fn follow_callback(
    sso: &Sso,
    callback: &str,
    cookie: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    assert!(
        callback.starts_with(&sso.f.base),
        "the provider sends the browser back to us: {callback}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut request = browser.get(callback);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.expect("callback");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn session_from(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("__Host-flotilla_session="))
        .and_then(|rest| rest.split(';').next())
        .filter(|token| !token.is_empty())
        .expect("a session cookie")
        .to_string()
}

async fn sign_in_with_sso_provisions_and_reuses_accounts(family: Family) {
    let sso = start(family, true).await;
    let f = &sso.f;
    let (status, public) = f.admin_as(None, "GET", "/api/v1/fleet/sso", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        public["settings"],
        json!({"idp_name": "Test IdP", "sso_enabled": true, "sso_required": false})
    );

    let (status, headers, body) = sign_in(&sso, "alice@example.com", "/hosts?team_id=1").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        headers.get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/hosts?team_id=1")
    );
    let token = session_from(&headers);
    let (status, me) = f
        .admin_as(Some(&token), "GET", "/api/v1/fleet/me", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["user"]["name"], "Alice Admin");
    assert_eq!(
        me["user"]["global_role"], "observer_plus",
        "the default role"
    );
    assert_eq!(me["user"]["sso_enabled"], true);
    let id = me["user"]["id"].clone();
    // An SSO user has no password to log in with.
    let (status, _) = f
        .admin_as(
            None,
            "POST",
            "/api/v1/fleet/login",
            Some(json!({"email": "alice@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The second sign-in finds the same account.
    let (status, headers, _) = sign_in(&sso, "alice@example.com", "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, me) = f
        .admin_as(
            Some(&session_from(&headers)),
            "GET",
            "/api/v1/fleet/me",
            None,
        )
        .await;
    assert_eq!(me["user"]["id"], id);
    let (_, users) = f.admin("GET", "/api/v1/fleet/users", None).await;
    assert_eq!(users["users"].as_array().map(Vec::len), Some(1));
    let (_, log) = f
        .admin(
            "GET",
            "/api/v1/fleet/activities?type=user_added_by_sso",
            None,
        )
        .await;
    assert_eq!(log["activities"].as_array().map(Vec::len), Some(1), "{log}");

    // Only paths on this site are relays.
    for relay in ["https://evil.example/", "//evil.example/x"] {
        let response = f
            .http()
            .post(format!("{}/api/v1/fleet/sso", f.base))
            .json(&json!({"relay_url": relay}))
            .send()
            .await
            .expect("initiate");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{relay}");
    }
}

async fn sso_callbacks_are_bound_to_the_browser_and_used_once(family: Family) {
    let sso = start(family, true).await;
    // Another browser (no state cookie, or another sign-in's) cannot finish this sign-in.
    let (url, cookie) = initiate(&sso, "/").await;
    let (_, other_cookie) = initiate(&sso, "/").await;
    let callback = sso.provider.sign_in(&url, "alice@example.com").await;
    let (status, _, _) = follow_callback(&sso, &callback, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no state cookie");
    let (status, _, _) = follow_callback(&sso, &callback, Some(&other_cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another sign-in's cookie");
    let (status, _, body) = follow_callback(&sso, &callback, Some(&cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, _, _) = follow_callback(&sso, &callback, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a callback works once");

    // A forged state and a stale one.
    let forged = callback.replace("state=", "state=x");
    let (status, _, _) = follow_callback(&sso, &forged, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (url, cookie) = initiate(&sso, "/").await;
    let callback = sso.provider.sign_in(&url, "alice@example.com").await;
    sso.f.advance_secs(601);
    let (status, _, _) = follow_callback(&sso, &callback, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "older than 10 minutes");
    // The provider's own refusal.
    let refused = format!(
        "{}/api/v1/fleet/sso/callback?error=access_denied&state=x",
        sso.f.base
    );
    let (status, _, _) = follow_callback(&sso, &refused, Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn who_may_sign_in_with_sso(family: Family) {
    let sso = start(family, false).await;
    let f = &sso.f;
    // No account, no provisioning.
    let (status, _, body) = sign_in(&sso, "alice@example.com", "/").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A password account is not taken over by the provider...
    let (status, _) = f.admin("POST", "/api/v1/fleet/users/admin", Some(json!({"name": "Alice", "email": "Alice@Example.com", "password": PASSWORD, "global_role": "maintainer"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = sign_in(&sso, "alice@example.com", "/").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // ...until an admin makes it an SSO account (its password goes).
    let (_, users) = f.admin("GET", "/api/v1/fleet/users", None).await;
    let id = users["users"][0]["id"].as_u64().expect("id");
    let (status, _) = f
        .admin(
            "PATCH",
            &format!("/api/v1/fleet/users/{id}"),
            Some(json!({"sso_enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, _) = sign_in(&sso, "alice@example.com", "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, me) = f
        .admin_as(
            Some(&session_from(&headers)),
            "GET",
            "/api/v1/fleet/me",
            None,
        )
        .await;
    assert_eq!(
        me["user"]["global_role"], "maintainer",
        "the account's own role"
    );
    // An email the provider has not verified (bob) is refused unless trusted explicitly.
    let (status, _) = f.admin("POST", "/api/v1/fleet/users/admin", Some(json!({"name": "Bob", "email": "bob@example.com", "global_role": "observer", "sso_enabled": true}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = sign_in(&sso, "bob@example.com", "/").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    f.admin(
        "PATCH",
        "/api/v1/fleet/sso/settings",
        Some(json!({"trust_unverified_email": true})),
    )
    .await;
    let (status, _, _) = sign_in(&sso, "bob@example.com", "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

async fn sso_can_be_required(family: Family) {
    let sso = start(family, true).await;
    let f = &sso.f;
    let user = f.user(Some("admin"), &[]).await;
    let (status, api) = f.admin("POST", "/api/v1/fleet/users/admin", Some(json!({"name": "CI", "email": "ci@example.com", "global_role": "observer", "api_only": true}))).await;
    assert_eq!(status, StatusCode::OK);
    let api_token = api["token"].as_str().expect("token").to_string();
    let (status, _) = f
        .admin_as(
            Some(&user.token),
            "PATCH",
            "/api/v1/fleet/sso/settings",
            Some(json!({"sso_required": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = f
        .admin_as(
            None,
            "POST",
            "/api/v1/fleet/login",
            Some(json!({"email": user.email, "password": user.password})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = f
        .admin_as(Some(&f.break_glass), "GET", "/api/v1/fleet/hosts", None)
        .await;
    assert_eq!(status, StatusCode::OK, "the break-glass token still works");
    let (status, _) = f
        .admin_as(Some(&api_token), "GET", "/api/v1/fleet/hosts", None)
        .await;
    assert_eq!(status, StatusCode::OK, "API tokens still work");
    let (status, headers, _) = sign_in(&sso, "alice@example.com", "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    session_from(&headers);
    // SSO cannot be required while it is off.
    let (status, _) = f
        .admin(
            "PATCH",
            "/api/v1/fleet/sso/settings",
            Some(json!({"enable_sso": false})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
