//! Every page of the admin UI, declared like the API's routes (group, method, path, access).

mod account;
mod activity;
mod add_hosts;
mod agent_options;
mod carves;
mod dashboard;
mod hosts;
mod live;
mod my_device;
mod queries;
mod settings;
mod setup;
mod sign_in;
mod sso_settings;
mod teams;
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
        Route::new(
            Group::Desktop,
            method!(GET, my_device::show),
            "/device/{token}",
            Open,
        )
        .wrapped(my_device::layers),
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
        page(
            method!(POST, account::new_token),
            "/account/token",
            PageTeam(OwnAccount),
        ),
        page(
            method!(GET, add_hosts::show),
            "/add-hosts",
            PageTeam(ReadEnrollSecrets),
        ),
        page(
            method!(GET, add_hosts::osquery::flags),
            "/add-hosts/osquery.flags",
            PageTeam(ReadEnrollSecrets),
        ),
        page(
            method!(GET, add_hosts::osquery::secret),
            "/add-hosts/secret.txt",
            PageTeam(ReadEnrollSecrets),
        ),
        page(
            method!(GET, add_hosts::osquery::certificate),
            "/add-hosts/server.pem",
            PageTeam(ReadEnrollSecrets),
        ),
        page(
            method!(POST, add_hosts::build::submit),
            "/add-hosts/build",
            PageTeam(BuildInstallers),
        ),
        page(
            method!(GET, add_hosts::build::show),
            "/add-hosts/builds/{id}",
            PageTeam(BuildInstallers),
        ),
        page(
            method!(GET, add_hosts::build::fragment),
            "/add-hosts/builds/{id}/progress",
            PageTeam(BuildInstallers),
        ),
        // Hosts: the list, changes to many at once, one host.
        page(
            method!(GET, hosts::list::list),
            "/hosts",
            PageTeam(ReadHosts),
        ),
        page(
            method!(POST, hosts::bulk::submit),
            "/hosts/bulk",
            PageTeam(WriteHosts),
        ),
        page(
            method!(GET, hosts::host::show),
            "/hosts/{id}",
            PageTeam(ReadHosts),
        ),
        // As the API's refetch: whoever may read the host (Fleet's observers may too).
        page(
            method!(POST, hosts::host::refetch),
            "/hosts/{id}/refetch",
            PageTeam(ReadHosts),
        ),
        page(
            method!(POST, hosts::host::transfer),
            "/hosts/{id}/transfer",
            PageTeam(WriteHosts),
        ),
        page(
            method!(POST, hosts::host::delete),
            "/hosts/{id}/delete",
            PageTeam(WriteHosts),
        ),
        page(method!(GET, carves::list), "/carves", PageTeam(ReadCarves)),
        page(
            method!(GET, carves::show),
            "/carves/{id}",
            PageTeam(ReadCarves),
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
        // Live queries.
        page(
            method!(GET, live::run::show),
            "/live",
            PageTeam(RunSavedQueries),
        ),
        page(
            method!(POST, live::run::submit),
            "/live",
            PageTeam(RunSavedQueries),
        ),
        page(
            method!(GET, live::campaign::show),
            "/live/{id}",
            PageTeam(ReadCampaigns),
        ),
        page(
            method!(GET, live::campaign::fragment),
            "/live/{id}/progress",
            PageTeam(ReadCampaigns),
        ),
        page(
            method!(GET, live::campaign::errors),
            "/live/{id}/errors",
            PageTeam(ReadCampaigns),
        ),
        page(
            method!(POST, live::campaign::stop),
            "/live/{id}/stop",
            PageTeam(RunSavedQueries),
        ),
        page(
            method!(POST, live::export::submit),
            "/live/{id}/export",
            PageTeam(ReadCampaigns),
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
