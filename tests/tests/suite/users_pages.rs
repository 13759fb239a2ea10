//! The Users pages driven like a browser, on both adapter families: create a user through the
//! form and sign in as them, change their role, require a password reset, delete them; the
//! last global admin is neither deleted nor demoted; an API-only user's token is shown once;
//! other roles' forged posts are refused and change nothing.

use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::page_client::{Browser, Page};
use reqwest::StatusCode;
use serde_json::{json, Value};

flotilla_tests::both!(
    a_user_from_the_form_signs_in_changes_role_resets_and_goes,
    the_last_admin_stays,
    an_api_token_is_shown_once,
    my_own_api_token,
    other_roles_cannot_manage_users
);

const PASSWORD: &str = "a fine password 1!";

async fn team(f: &Flotilla, name: &str) -> u64 {
    let (status, team) = f
        .admin("POST", "/api/v1/fleet/teams", Some(json!({"name": name})))
        .await;
    assert_eq!(status, StatusCode::OK, "{team}");
    team["team"]["id"].as_u64().expect("team id")
}

async fn user_json(f: &Flotilla, id: u64) -> (StatusCode, Value) {
    f.admin("GET", &format!("/api/v1/fleet/users/{id}"), None)
        .await
}

async fn find_user(f: &Flotilla, email: &str) -> Option<Value> {
    let (status, all) = f.admin("GET", "/api/v1/fleet/users", None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    all["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == email)
        .cloned()
}

/// Signs in through the sign-in form; the session token from Set-Cookie.
async fn sign_in(f: &Flotilla, email: &str, password: &str) -> Page {
    Browser::new(f, None)
        .post("/login", &[("email", email), ("password", password)])
        .await
}

fn session_of(page: &Page) -> Option<String> {
    page.headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("__Host-flotilla_session="))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
        .filter(|token| !token.is_empty())
}

async fn a_user_from_the_form_signs_in_changes_role_resets_and_goes(family: Family) {
    let f = Flotilla::start(family).await;
    let team1 = team(&f, "Blue").await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));

    let list = browser.get("/users").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&admin.email), "the list shows users");
    let form = browser.get("/users/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("name=\"team_id\""), "team rows");

    // Created with a role on a team (the second row; the first left empty).
    let team = team1.to_string();
    let created = browser
        .post(
            "/users/new",
            &[
                ("name", "Pat Doe"),
                ("email", "pat@example.com"),
                ("password", PASSWORD),
                ("global_role", ""),
                ("team_id", ""),
                ("team_role", "observer"),
                ("team_id", &team),
                ("team_role", "maintainer"),
                ("team_id", ""),
                ("team_role", "observer"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(created.location(), Some("/users?notice=created"));
    let pat = find_user(&f, "pat@example.com").await.expect("pat exists");
    let pat_id = pat["id"].as_u64().expect("id");
    assert_eq!(pat["global_role"], Value::Null);
    assert_eq!(pat["teams"][0]["id"], team1);
    assert_eq!(pat["teams"][0]["role"], "maintainer");
    assert!(browser
        .get("/users?notice=created")
        .await
        .body
        .contains("The user is created."));

    // Refusals come back as the form, with what was typed.
    let again = browser
        .post(
            "/users/new",
            &[
                ("name", "Pat Again"),
                ("email", "pat@example.com"),
                ("password", PASSWORD),
                ("global_role", "observer"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already exists"), "{}", again.body);
    assert!(again.body.contains("value=\"Pat Again\""), "input kept");
    let weak = browser
        .post(
            "/users/new",
            &[
                ("name", "Weak"),
                ("email", "weak@example.com"),
                ("password", "short"),
                ("global_role", "observer"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(find_user(&f, "weak@example.com").await.is_none());

    // Pat signs in with the sign-in form and sees pages.
    let signed_in = sign_in(&f, "pat@example.com", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let pat_session = session_of(&signed_in).expect("a session cookie");
    let pat_browser = Browser::new(&f, Some(pat_session));
    assert_eq!(pat_browser.get("/").await.status, StatusCode::OK);

    // A new role: global observer (team roles go).
    let page = browser.get(&format!("/users/{pat_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Pat Doe"));
    let saved = browser
        .post(
            &format!("/users/{pat_id}"),
            &[
                ("name", "Pat Doe"),
                ("email", "pat@example.com"),
                ("global_role", "observer"),
                ("team_id", ""),
                ("team_role", "observer"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        saved.location(),
        Some(format!("/users/{pat_id}?notice=saved").as_str())
    );
    let (_, now) = user_json(&f, pat_id).await;
    assert_eq!(now["user"]["global_role"], "observer");
    assert_eq!(now["user"]["teams"], json!([]));
    // Both a global role and a team: refused, the form comes back.
    let both = browser
        .post(
            &format!("/users/{pat_id}"),
            &[
                ("name", "Pat Doe"),
                ("email", "pat@example.com"),
                ("global_role", "admin"),
                ("team_id", &team),
                ("team_role", "observer"),
            ],
        )
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert!(both.body.contains("not both"), "{}", both.body);
    let (_, now) = user_json(&f, pat_id).await;
    assert_eq!(now["user"]["global_role"], "observer", "nothing changed");

    // A password reset: Pat's sessions end, and after signing in again every page sends
    // them to their account.
    let reset = browser
        .post(
            &format!("/users/{pat_id}/password-reset"),
            &[("require", "true")],
        )
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    let (_, now) = user_json(&f, pat_id).await;
    assert_eq!(now["user"]["force_password_reset"], true);
    let ended = pat_browser.get("/").await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert!(ended.location().unwrap_or("").starts_with("/login"));
    let signed_in = sign_in(&f, "pat@example.com", PASSWORD).await;
    let pat_browser = Browser::new(&f, session_of(&signed_in));
    // (The dashboard and My account need only a session: every other page.)
    let sent = pat_browser.get("/settings").await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    assert_eq!(sent.location(), Some("/account"));
    assert!(browser
        .get("/users")
        .await
        .body
        .contains("Must choose a new password"));

    // Deleted: gone, and their session with them.
    let page = browser.get(&format!("/users/{pat_id}")).await;
    assert!(page.body.contains("data-confirm=\"Delete Pat Doe"));
    let deleted = browser.post(&format!("/users/{pat_id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.location(), Some("/users?notice=deleted"));
    assert_eq!(user_json(&f, pat_id).await.0, StatusCode::NOT_FOUND);
    let gone = pat_browser.get("/account").await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert!(gone.location().unwrap_or("").starts_with("/login"));
    assert!(!browser.get("/users").await.body.contains("pat@example.com"));
}

async fn the_last_admin_stays(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let page = browser.get(&format!("/users/{}", admin.id)).await;
    assert!(
        !page
            .body
            .contains(&format!("action=\"/users/{}/delete\"", admin.id)),
        "no delete button for the last admin"
    );
    // Forged anyway: 409, with the domain's message, as a page.
    let refused = browser
        .post(&format!("/users/{}/delete", admin.id), &[])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body.contains("last global admin"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("<h1>"), "an HTML page");
    assert_eq!(user_json(&f, admin.id).await.0, StatusCode::OK);
    // Nor demoted.
    let demoted = browser
        .post(
            &format!("/users/{}", admin.id),
            &[
                ("name", "Admin"),
                ("email", &admin.email),
                ("global_role", "observer"),
            ],
        )
        .await;
    assert_eq!(demoted.status, StatusCode::CONFLICT);
    assert!(demoted.body.contains("last global admin"));
    let (_, now) = user_json(&f, admin.id).await;
    assert_eq!(now["user"]["global_role"], "admin");
    // With a second admin, the first may go.
    let second = f.user(Some("admin"), &[]).await;
    let page = browser.get(&format!("/users/{}", second.id)).await;
    assert!(page
        .body
        .contains(&format!("action=\"/users/{}/delete\"", second.id)));
    let deleted = browser
        .post(&format!("/users/{}/delete", second.id), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
}

/// The token the page shows in its read-only field.
fn shown_token(page: &Page) -> Option<String> {
    let at = page.body.find("id=\"api-token\"")?;
    let rest = &page.body[at..];
    let value = rest.find("value=\"")? + "value=\"".len();
    rest[value..].split('"').next().map(str::to_owned)
}

async fn me(f: &Flotilla, token: &str) -> (StatusCode, Value) {
    f.admin_as(Some(token), "GET", "/api/v1/fleet/me", None)
        .await
}

async fn an_api_token_is_shown_once(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let created = browser
        .post(
            "/users/new",
            &[
                ("name", "Robot"),
                ("email", "robot@example.com"),
                ("password", ""),
                ("api_only", "true"),
                ("global_role", "observer"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(
        created
            .headers
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(created.body.contains("not shown again"));
    let token = shown_token(&created).expect("the token on the page");
    assert!(token.len() > 20);
    let (status, who) = me(&f, &token).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["user"]["email"], "robot@example.com");
    assert_eq!(who["user"]["api_only"], true);
    let robot_id = who["user"]["id"].as_u64().expect("id");
    // Nowhere else.
    for path in ["/users".to_string(), format!("/users/{robot_id}")] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains(&token), "{path} shows no token");
        assert!(page.body.contains("API token only") || path != "/users");
    }
    let page = browser.get(&format!("/users/{robot_id}")).await;
    assert!(page.body.contains("Issue a new API token"));
    // A new token replaces the old one at once.
    let rotated = browser.post(&format!("/users/{robot_id}/token"), &[]).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let second = shown_token(&rotated).expect("a new token");
    assert_ne!(second, token);
    assert_eq!(me(&f, &token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&f, &second).await.0, StatusCode::OK);
    assert!(!browser.get("/users").await.body.contains(&second));
    // A user who signs in has no token to issue.
    let refused = browser
        .post(&format!("/users/{}/token", admin.id), &[])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}

async fn other_roles_cannot_manage_users(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let victim = f.user(Some("observer"), &[]).await;
    let (_, before) = f.admin("GET", "/api/v1/fleet/users", None).await;
    for role in ["maintainer", "observer"] {
        let caller = f.user(Some(role), &[]).await;
        let browser = Browser::new(&f, Some(caller.token.clone()));
        assert_eq!(
            browser.get("/users").await.status,
            StatusCode::FORBIDDEN,
            "{role}"
        );
        assert!(
            !browser.get("/").await.body.contains("href=\"/users\""),
            "{role}: no Users link"
        );
        let id = victim.id;
        for (path, fields) in [
            (
                "/users/new".to_string(),
                vec![
                    ("name", "Sneaky"),
                    ("email", "sneaky@example.com"),
                    ("password", PASSWORD),
                    ("global_role", "admin"),
                ],
            ),
            (
                format!("/users/{id}"),
                vec![
                    ("name", "Renamed"),
                    ("email", "renamed@example.com"),
                    ("global_role", "admin"),
                ],
            ),
            (
                format!("/users/{id}/password-reset"),
                vec![("require", "true")],
            ),
            (format!("/users/{id}/token"), vec![]),
            (format!("/users/{}/delete", admin.id), vec![]),
        ] {
            let page = browser.post(&path, &fields).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role} POST {path}");
        }
    }
    let (_, after) = f.admin("GET", "/api/v1/fleet/users", None).await;
    let strip = |v: &Value| -> Vec<Value> {
        v["users"]
            .as_array()
            .expect("users")
            .iter()
            .map(|u| {
                json!([
                    u["id"],
                    u["name"],
                    u["email"],
                    u["global_role"],
                    u["force_password_reset"]
                ])
            })
            .collect()
    };
    // The callers themselves were added between the two listings: compare the others.
    let before = strip(&before);
    let after: Vec<Value> = strip(&after)
        .into_iter()
        .filter(|u| before.iter().any(|b| b[0] == u[0]))
        .collect();
    assert_eq!(before, after, "nothing changed");
    assert!(find_user(&f, "sneaky@example.com").await.is_none());
}

/// "My account" gives a person a token of their own (Fleet's "Get API token"): shown once,
/// working as a bearer token with their roles, ended by a password change like a sign-in.
async fn my_own_api_token(family: Family) {
    let f = Flotilla::start(family).await;
    let observer = f.user(Some("observer"), &[]).await;
    let browser = Browser::new(&f, Some(observer.token.clone()));
    let account = browser.get("/account").await;
    assert!(
        account.body.contains("Create an API token"),
        "{}",
        account.body
    );
    assert!(shown_token(&account).is_none());

    let created = browser.post("/account/token", &[]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(created.body.contains("not shown again"));
    let token = shown_token(&created).expect("the token on the page");
    assert_ne!(token, observer.token, "a new credential, not the session's");
    let (status, who) = me(&f, &token).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["user"]["email"], observer.email.as_str());
    // With the person's roles: an observer's token cannot create a team.
    let (status, _) = f
        .admin_as(
            Some(&token),
            "POST",
            "/api/v1/fleet/teams",
            Some(json!({"name": "Not allowed"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!browser.get("/account").await.body.contains(&token));
    // It is recorded, without the token.
    let activities = f
        .break_glass_ok("GET", "/api/v1/fleet/activities", None)
        .await;
    assert!(activities.to_string().contains("created_api_token"));
    assert!(!activities.to_string().contains(&token));

    // A forged post (no CSRF token) makes none.
    let forged = browser
        .post_raw("/account/token", &[], Some(&f.base.clone()))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // A password change ends it with the other sessions.
    let changed = browser
        .post(
            "/account/password",
            &[
                ("old_password", observer.password.as_str()),
                ("new_password", "another fine password 2!"),
                ("new_password_confirmation", "another fine password 2!"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(me(&f, &token).await.0, StatusCode::UNAUTHORIZED);
}
