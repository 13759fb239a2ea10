//! Every page of the admin UI, declared like the API's routes (group, method, path, access).

mod account;
mod activity;
mod dashboard;
mod settings;
mod setup;
mod sign_in;
mod sso_settings;
mod users;

use flotilla::api::routes::{Access, Group, Route};
use flotilla::domain::identity::roles::Permission;
use flotilla::method;

use crate::{assets, headers};

/// The UI's routes, each inside the page layers (security headers, HTML errors, compression).
pub fn routes() -> Vec<Route> {
    use Access::{Open, PageGlobal, PageTeam};
    use Permission::*;
    let page = |entry, path, access| {
        Route::new(Group::Admin, entry, path, access).wrapped(headers::page_layers)
    };
    vec![
        page(method!(GET, assets::serve), "/assets/{name}", Open),
        page(method!(GET, dashboard::show), "/", PageTeam(OwnAccount)),
        page(method!(GET, sign_in::form), "/login", Open),
        page(method!(POST, sign_in::submit), "/login", Open),
        page(method!(GET, sign_in::sso), "/login/sso", Open),
        page(
            method!(POST, sign_in::sign_out),
            "/logout",
            PageTeam(OwnAccount),
        ),
        page(method!(GET, setup::form), "/setup", Open),
        page(method!(POST, setup::submit), "/setup", Open),
        page(
            method!(GET, account::show),
            "/account",
            PageTeam(OwnAccount),
        ),
        page(
            method!(POST, account::change_password),
            "/account/password",
            PageTeam(OwnAccount),
        ),
        page(method!(GET, users::list), "/users", PageGlobal(ManageUsers)),
        page(
            method!(GET, users::create::form),
            "/users/new",
            PageGlobal(ManageUsers),
        ),
        page(
            method!(POST, users::create::submit),
            "/users/new",
            PageGlobal(ManageUsers),
        ),
        page(
            method!(GET, users::show),
            "/users/{id}",
            PageGlobal(ManageUsers),
        ),
        page(
            method!(POST, users::save),
            "/users/{id}",
            PageGlobal(ManageUsers),
        ),
        page(
            method!(POST, users::require_reset),
            "/users/{id}/password-reset",
            PageGlobal(ManageUsers),
        ),
        page(
            method!(POST, users::delete),
            "/users/{id}/delete",
            PageGlobal(ManageUsers),
        ),
        page(
            method!(POST, users::new_token),
            "/users/{id}/token",
            PageGlobal(ManageUsers),
        ),
        page(
            method!(GET, activity::show),
            "/activity",
            PageGlobal(ReadActivities),
        ),
        page(
            method!(GET, settings::show),
            "/settings",
            PageTeam(ReadConfig),
        ),
        page(
            method!(POST, settings::save),
            "/settings",
            PageGlobal(WriteConfig),
        ),
        page(
            method!(GET, sso_settings::show),
            "/settings/sso",
            PageGlobal(ManageSso),
        ),
        page(
            method!(POST, sso_settings::save),
            "/settings/sso",
            PageGlobal(ManageSso),
        ),
    ]
}

/// A path to send a signed-in visitor back to: only one of ours (no open redirect).
pub(crate) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_string(),
        _ => "/".to_string(),
    }
}

/// 303 to a path of ours.
pub(crate) fn see_other(to: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, to.to_string())],
    )
        .into_response()
}

/// Who did something, in words.
pub(crate) fn actor_text(actor: &flotilla::domain::activities::Actor) -> String {
    use flotilla::domain::activities::Actor;
    match actor {
        Actor::User { name, email, .. } if !name.is_empty() => format!("{name} ({email})"),
        Actor::User { email, .. } => email.clone(),
        Actor::BreakGlass => "the break-glass token".to_string(),
        Actor::Anonymous => "someone not signed in".to_string(),
    }
}

/// An activity in words: who did what.
pub(crate) fn activity_text(activity: &flotilla::domain::activities::Activity) -> String {
    format!(
        "{}: {}",
        actor_text(&activity.actor),
        activity.kind.replace('_', " ")
    )
}
