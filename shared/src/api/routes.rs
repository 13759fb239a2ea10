//! Every route, declared once with the function group (Lambda) that serves it.
//! template.yaml must declare the same set per function: tests/tests/suite/routes.rs checks it.

use axum::routing::MethodRouter;
use axum::Router;

use super::{admin, desktop, fallback, health, orbit, osquery, packager, request_log};
use crate::app::App;
use crate::domain::identity::roles::Permission;
pub use admin::auth::Access;

/// A Lambda function of template.yaml, and the API group it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    Enroll,
    Config,
    Distributed,
    Log,
    Admin,
    Orbit,
    Desktop,
    Carve,
    PackagerCreate,
    PackagerStatus,
    PackagerDownload,
}

impl Group {
    pub const ALL: [Group; 11] = [
        Group::Enroll,
        Group::Config,
        Group::Distributed,
        Group::Log,
        Group::Admin,
        Group::Orbit,
        Group::Desktop,
        Group::Carve,
        Group::PackagerCreate,
        Group::PackagerStatus,
        Group::PackagerDownload,
    ];

    /// The function's logical id in template.yaml.
    pub fn function_id(self) -> &'static str {
        match self {
            Group::Enroll => "EnrollFunction",
            Group::Config => "ConfigFunction",
            Group::Distributed => "DistributedFunction",
            Group::Log => "LogFunction",
            Group::Admin => "AdminFunction",
            Group::Orbit => "OrbitFunction",
            Group::Desktop => "DesktopFunction",
            Group::Carve => "CarveFunction",
            Group::PackagerCreate => "PackagerCreateFunction",
            Group::PackagerStatus => "PackagerStatusFunction",
            Group::PackagerDownload => "PackagerDownloadFunction",
        }
    }
}

/// A route as template.yaml declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteSpec {
    pub group: Group,
    pub method: &'static str,
    pub path: &'static str,
    /// What a caller needs (checked by `admin::auth::authorize` before the handler).
    pub access: Access,
}

/// A declared route: what template.yaml declares, and the handler. Crates that add routes
/// of their own (the admin UI) declare them as these and pass them to `router_with`.
pub struct Route {
    pub spec: RouteSpec,
    pub handler: MethodRouter<App>,
    /// Layers around the route, authorization included (a page's headers and error pages
    /// apply to its sign-in redirects and refusals too).
    pub outer: Option<fn(MethodRouter<App>) -> MethodRouter<App>>,
}

impl Route {
    pub fn new(
        group: Group,
        (method, handler): MethodEntry,
        path: &'static str,
        access: Access,
    ) -> Route {
        Route {
            spec: RouteSpec {
                group,
                method,
                path,
                access,
            },
            handler,
            outer: None,
        }
    }

    /// The same route inside `layers`.
    pub fn wrapped(self, layers: fn(MethodRouter<App>) -> MethodRouter<App>) -> Route {
        Route {
            outer: Some(layers),
            ..self
        }
    }
}

/// `(name, handler)` for a method: `method!(GET, handler)`.
#[macro_export]
macro_rules! method {
    (GET, $h:expr) => {
        (
            "GET",
            axum::routing::on(axum::routing::MethodFilter::GET, $h),
        )
    };
    (POST, $h:expr) => {
        (
            "POST",
            axum::routing::on(axum::routing::MethodFilter::POST, $h),
        )
    };
    (PATCH, $h:expr) => {
        (
            "PATCH",
            axum::routing::on(axum::routing::MethodFilter::PATCH, $h),
        )
    };
    (HEAD, $h:expr) => {
        (
            "HEAD",
            axum::routing::on(axum::routing::MethodFilter::HEAD, $h),
        )
    };
    (DELETE, $h:expr) => {
        (
            "DELETE",
            axum::routing::on(axum::routing::MethodFilter::DELETE, $h),
        )
    };
}

/// Orbit answers carry the server's capabilities, errors included.
fn orbit_route((method, handler): MethodEntry) -> MethodEntry {
    (
        method,
        handler.layer(axum::middleware::map_response(orbit::with_capabilities)),
    )
}

/// An HTTP method's name and the handler for it.
pub type MethodEntry = (&'static str, MethodRouter<App>);

fn declared() -> Vec<Route> {
    use Access::{Global, Open, Team};
    use Group::*;
    use Permission::*;
    // osquery paths are served twice: orbit hands osqueryd the `/api/v1/` form.
    let table: Vec<(Group, &'static str, MethodEntry, Access)> = vec![
        (
            Enroll,
            "/api/osquery/enroll",
            method!(POST, osquery::enroll::enroll),
            Open,
        ),
        (
            Enroll,
            "/api/v1/osquery/enroll",
            method!(POST, osquery::enroll::enroll),
            Open,
        ),
        (
            Config,
            "/api/osquery/config",
            method!(POST, osquery::config::config),
            Open,
        ),
        (
            Config,
            "/api/v1/osquery/config",
            method!(POST, osquery::config::config),
            Open,
        ),
        (
            Distributed,
            "/api/osquery/distributed/read",
            method!(POST, osquery::distributed::read),
            Open,
        ),
        (
            Distributed,
            "/api/v1/osquery/distributed/read",
            method!(POST, osquery::distributed::read),
            Open,
        ),
        (
            Distributed,
            "/api/osquery/distributed/write",
            method!(POST, osquery::distributed::write),
            Open,
        ),
        (
            Distributed,
            "/api/v1/osquery/distributed/write",
            method!(POST, osquery::distributed::write),
            Open,
        ),
        (
            Log,
            "/api/osquery/log",
            method!(POST, osquery::log::log),
            Open,
        ),
        (
            Carve,
            "/api/osquery/carve/begin",
            method!(POST, osquery::carve::begin),
            Open,
        ),
        (
            Carve,
            "/api/v1/osquery/carve/begin",
            method!(POST, osquery::carve::begin),
            Open,
        ),
        (
            Carve,
            "/api/osquery/carve/block",
            method!(POST, osquery::carve::block),
            Open,
        ),
        (
            Carve,
            "/api/v1/osquery/carve/block",
            method!(POST, osquery::carve::block),
            Open,
        ),
        (
            Log,
            "/api/v1/osquery/log",
            method!(POST, osquery::log::log),
            Open,
        ),
        (
            Orbit,
            "/api/fleet/orbit/enroll",
            orbit_route(method!(POST, orbit::enroll)),
            Open,
        ),
        (
            Orbit,
            "/api/fleet/orbit/config",
            orbit_route(method!(POST, orbit::config)),
            Open,
        ),
        (
            Orbit,
            "/api/fleet/orbit/device_token",
            orbit_route(method!(POST, orbit::device_token)),
            Open,
        ),
        (
            Orbit,
            "/api/fleet/orbit/ping",
            orbit_route(method!(HEAD, orbit::ping)),
            Open,
        ),
        (
            Desktop,
            "/api/v1/fleet/device/{token}/desktop",
            method!(GET, desktop::desktop),
            Open,
        ),
        (
            Desktop,
            "/api/latest/fleet/device/{token}/desktop",
            method!(GET, desktop::desktop),
            Open,
        ),
        (
            Desktop,
            "/api/v1/fleet/device/{token}",
            method!(GET, desktop::device),
            Open,
        ),
        (
            Desktop,
            "/api/latest/fleet/device/{token}",
            method!(GET, desktop::device),
            Open,
        ),
        (
            Desktop,
            "/api/v1/fleet/device/{token}/ping",
            method!(HEAD, desktop::ping),
            Open,
        ),
        (
            Desktop,
            "/api/latest/fleet/device/{token}/ping",
            method!(HEAD, desktop::ping),
            Open,
        ),
        (Admin, "/healthz", method!(GET, health::health), Open),
        // Identity: setup, sessions, users, single sign-on, the activity log.
        (
            Admin,
            "/api/v1/setup",
            method!(POST, admin::account::set_up),
            Open,
        ),
        (
            Admin,
            "/api/v1/fleet/login",
            method!(POST, admin::account::login),
            Open,
        ),
        (
            Admin,
            "/api/v1/fleet/logout",
            method!(POST, admin::account::logout),
            Team(OwnAccount),
        ),
        (
            Admin,
            "/api/v1/fleet/me",
            method!(GET, admin::account::me),
            Team(OwnAccount),
        ),
        (
            Admin,
            "/api/v1/fleet/change_password",
            method!(POST, admin::account::change_password),
            Team(OwnAccount),
        ),
        (
            Admin,
            "/api/v1/fleet/users",
            method!(GET, admin::users::list),
            Global(ManageUsers),
        ),
        (
            Admin,
            "/api/v1/fleet/users/admin",
            method!(POST, admin::users::create),
            Global(ManageUsers),
        ),
        (
            Admin,
            "/api/v1/fleet/users/{id}",
            method!(GET, admin::users::get),
            Global(ManageUsers),
        ),
        (
            Admin,
            "/api/v1/fleet/users/{id}",
            method!(PATCH, admin::users::patch),
            Global(ManageUsers),
        ),
        (
            Admin,
            "/api/v1/fleet/users/{id}",
            method!(DELETE, admin::users::delete),
            Global(ManageUsers),
        ),
        (
            Admin,
            "/api/v1/fleet/users/{id}/require_password_reset",
            method!(POST, admin::users::require_password_reset),
            Global(ManageUsers),
        ),
        (
            Admin,
            "/api/v1/fleet/users/{id}/api_token",
            method!(POST, admin::users::rotate_api_token),
            Global(ManageUsers),
        ),
        (
            Admin,
            "/api/v1/fleet/activities",
            method!(GET, admin::activities::list),
            Global(ReadActivities),
        ),
        (
            Admin,
            "/api/v1/fleet/sso",
            method!(GET, admin::sso::public_settings),
            Open,
        ),
        (
            Admin,
            "/api/v1/fleet/sso",
            method!(POST, admin::sso::initiate),
            Open,
        ),
        (
            Admin,
            "/api/v1/fleet/sso/callback",
            method!(GET, admin::sso::callback),
            Open,
        ),
        (
            Admin,
            "/api/v1/fleet/sso/settings",
            method!(GET, admin::sso::get_settings),
            Global(ManageSso),
        ),
        (
            Admin,
            "/api/v1/fleet/sso/settings",
            method!(PATCH, admin::sso::patch_settings),
            Global(ManageSso),
        ),
        // Fleet's resources.
        (
            Admin,
            "/api/v1/fleet/spec/enroll_secret",
            method!(GET, admin::enroll_secrets::get_spec),
            Global(ReadEnrollSecrets),
        ),
        (
            Admin,
            "/api/v1/fleet/spec/enroll_secret",
            method!(POST, admin::enroll_secrets::apply_spec),
            Global(WriteEnrollSecrets),
        ),
        (
            Admin,
            "/api/v1/fleet/teams",
            method!(GET, admin::teams::list),
            Team(ReadTeams),
        ),
        (
            Admin,
            "/api/v1/fleet/teams",
            method!(POST, admin::teams::create),
            Global(ManageTeams),
        ),
        (
            Admin,
            "/api/v1/fleet/teams/{id}",
            method!(PATCH, admin::teams::patch),
            Team(ManageTeams),
        ),
        (
            Admin,
            "/api/v1/fleet/teams/{id}",
            method!(DELETE, admin::teams::delete),
            Global(ManageTeams),
        ),
        (
            Admin,
            "/api/v1/fleet/teams/{id}/secrets",
            method!(GET, admin::teams::secrets),
            Team(ReadEnrollSecrets),
        ),
        (
            Admin,
            "/api/v1/fleet/teams/{id}/secrets",
            method!(PATCH, admin::teams::replace_secrets),
            Team(WriteEnrollSecrets),
        ),
        (
            Admin,
            "/api/v1/fleet/teams/{id}/agent_options",
            method!(POST, admin::teams::agent_options),
            Team(WriteAgentOptions),
        ),
        (
            Admin,
            "/api/v1/fleet/config",
            method!(GET, admin::app_config::get),
            Team(ReadConfig),
        ),
        (
            Admin,
            "/api/v1/fleet/config",
            method!(PATCH, admin::app_config::patch),
            Global(WriteConfig),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts",
            method!(GET, admin::hosts::list),
            Team(ReadHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/count",
            method!(GET, admin::hosts::count),
            Team(ReadHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/report",
            method!(GET, admin::hosts::report),
            Team(ReadHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/host_summary",
            method!(GET, admin::hosts::summary),
            Team(ReadHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/delete",
            method!(POST, admin::hosts::delete_bulk),
            Team(WriteHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/transfer/filter",
            method!(POST, admin::hosts::transfer_by_filter),
            Team(WriteHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/{id}",
            method!(GET, admin::hosts::get),
            Team(ReadHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/{id}",
            method!(DELETE, admin::hosts::delete),
            Team(WriteHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/{id}/query",
            method!(POST, admin::host_live::query),
            Team(RunAnyQuery),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/{id}/refetch",
            method!(POST, admin::host_live::refetch),
            Team(ReadHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/transfer",
            method!(POST, admin::hosts::transfer),
            Team(WriteHosts),
        ),
        (
            Admin,
            "/api/v1/fleet/queries",
            method!(GET, admin::queries::list),
            Team(ReadQueries),
        ),
        (
            Admin,
            "/api/v1/fleet/queries",
            method!(POST, admin::queries::create),
            Team(WriteQueries),
        ),
        (
            Admin,
            "/api/v1/fleet/queries/{id}",
            method!(PATCH, admin::queries::patch),
            Team(WriteQueries),
        ),
        (
            Admin,
            "/api/v1/fleet/queries/{id}",
            method!(DELETE, admin::queries::delete),
            Team(WriteQueries),
        ),
        (
            Admin,
            "/api/v1/fleet/queries/run",
            method!(POST, admin::campaigns::run),
            Team(RunSavedQueries),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns/{id}/results",
            method!(GET, admin::campaigns::results),
            Team(ReadCampaigns),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns",
            method!(GET, admin::campaigns::list),
            Team(ReadCampaigns),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns/{id}",
            method!(GET, admin::campaigns::get),
            Team(ReadCampaigns),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns/{id}/errors",
            method!(GET, admin::campaigns::errors),
            Team(ReadCampaigns),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns/{id}/export",
            method!(POST, admin::campaigns::export),
            Team(ReadCampaigns),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns/{id}/export",
            method!(GET, admin::campaigns::export_status),
            Team(ReadCampaigns),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns/{id}/export/download",
            method!(GET, admin::campaigns::export_download),
            Team(ReadCampaigns),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns/{id}/stop",
            method!(POST, admin::campaigns::stop),
            Team(RunSavedQueries),
        ),
        (
            Admin,
            "/api/v1/fleet/carves",
            method!(GET, admin::carves::list),
            Team(ReadCarves),
        ),
        (
            Admin,
            "/api/v1/fleet/carves/{id}",
            method!(GET, admin::carves::get),
            Team(ReadCarves),
        ),
        (
            Admin,
            "/api/v1/fleet/carves/{id}/block/{block_id}",
            method!(GET, admin::carves::block),
            Team(ReadCarves),
        ),
        (
            Admin,
            "/api/v1/fleet/carves/{id}/download",
            method!(GET, admin::carves::download),
            Team(ReadCarves),
        ),
        (
            PackagerCreate,
            "/create",
            method!(POST, packager::create),
            Open,
        ),
        (
            PackagerStatus,
            "/status",
            method!(GET, packager::status),
            Open,
        ),
        (
            PackagerDownload,
            "/download/{package_id}",
            method!(GET, packager::download),
            Open,
        ),
    ];
    table
        .into_iter()
        .map(|(group, path, entry, access)| Route::new(group, entry, path, access))
        .collect()
}

/// The declared routes, for the template agreement test and `flotilla-local --routes`.
pub fn route_table() -> Vec<RouteSpec> {
    declared().into_iter().map(|route| route.spec).collect()
}

/// The router for these groups (all of them for flotilla-local, one per Lambda function).
pub fn router(app: App, groups: &[Group]) -> Router {
    router_with(app, groups, Vec::new())
}

/// The router for these groups with routes declared elsewhere (the admin UI's pages), each
/// behind the same `authorize` middleware as the API's.
pub fn router_with(app: App, groups: &[Group], extra: Vec<Route>) -> Router {
    let mut router = Router::new();
    for route in declared().into_iter().chain(extra) {
        if groups.contains(&route.spec.group) {
            let mut guarded = route.handler.layer(axum::middleware::from_fn_with_state(
                (app.clone(), route.spec.access),
                admin::auth::authorize,
            ));
            if let Some(layers) = route.outer {
                guarded = layers(guarded);
            }
            router = router.route(route.spec.path, guarded);
        }
    }
    router
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(axum::middleware::from_fn(request_log::log_request))
        .with_state(app)
}
