//! Every page of the admin UI, declared like the API's routes (group, method, path, access).

mod account;
mod agent_options;
mod dashboard;
mod queries;
mod setup;
mod sign_in;
mod teams;

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
        // Teams, their enroll secrets, the global ones.
        page(method!(GET, teams::list), "/teams", PageTeam(ReadTeams)),
        page(
            method!(POST, teams::create),
            "/teams",
            PageGlobal(ManageTeams),
        ),
        page(
            method!(GET, teams::secrets::global),
            "/teams/global",
            PageGlobal(ReadEnrollSecrets),
        ),
        page(
            method!(POST, teams::secrets::add_global),
            "/teams/global/secrets",
            PageGlobal(WriteEnrollSecrets),
        ),
        page(
            method!(POST, teams::secrets::delete_global),
            "/teams/global/secrets/delete",
            PageGlobal(WriteEnrollSecrets),
        ),
        page(
            method!(GET, teams::team::show),
            "/teams/{id}",
            PageTeam(ReadTeams),
        ),
        page(
            method!(POST, teams::team::rename),
            "/teams/{id}/rename",
            PageTeam(ManageTeams),
        ),
        page(
            method!(POST, teams::team::delete),
            "/teams/{id}/delete",
            PageGlobal(ManageTeams),
        ),
        page(
            method!(POST, teams::secrets::add_to_team),
            "/teams/{id}/secrets",
            PageTeam(WriteEnrollSecrets),
        ),
        page(
            method!(POST, teams::secrets::delete_from_team),
            "/teams/{id}/secrets/delete",
            PageTeam(WriteEnrollSecrets),
        ),
        // Agent options: a team's, the global ones.
        page(
            method!(GET, agent_options::show_team),
            "/teams/{id}/agent-options",
            PageTeam(ReadTeams),
        ),
        page(
            method!(POST, agent_options::submit_team),
            "/teams/{id}/agent-options",
            PageTeam(WriteAgentOptions),
        ),
        page(
            method!(GET, agent_options::show_global),
            "/settings/agent-options",
            PageTeam(ReadConfig),
        ),
        page(
            method!(POST, agent_options::submit_global),
            "/settings/agent-options",
            PageGlobal(WriteAgentOptions),
        ),
        // Saved queries.
        page(
            method!(GET, queries::list),
            "/queries",
            PageTeam(ReadQueries),
        ),
        page(
            method!(POST, queries::create),
            "/queries",
            PageTeam(WriteQueries),
        ),
        page(
            method!(GET, queries::new_form),
            "/queries/new",
            PageTeam(WriteQueries),
        ),
        page(
            method!(GET, queries::show),
            "/queries/{id}",
            PageTeam(ReadQueries),
        ),
        page(
            method!(POST, queries::update),
            "/queries/{id}",
            PageTeam(WriteQueries),
        ),
        page(
            method!(POST, queries::delete),
            "/queries/{id}/delete",
            PageTeam(WriteQueries),
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

/// An activity in words: who did what.
pub(crate) fn activity_text(activity: &flotilla::domain::activities::Activity) -> String {
    use flotilla::domain::activities::Actor;
    let who = match &activity.actor {
        Actor::User { name, email, .. } if !name.is_empty() => format!("{name} ({email})"),
        Actor::User { email, .. } => email.clone(),
        Actor::BreakGlass => "the break-glass token".to_string(),
        Actor::Anonymous => "someone not signed in".to_string(),
    };
    format!("{who}: {}", activity.kind.replace('_', " "))
}
