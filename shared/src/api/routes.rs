//! Every route, declared once with the function group (Lambda) that serves it.
//! template.yaml must declare the same set per function: tests/tests/routes.rs checks it.

use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use super::{admin, desktop, fallback, health, orbit, osquery, packager, request_log};
use crate::app::App;

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
}

struct Route {
    spec: RouteSpec,
    handler: MethodRouter<App>,
}

#[derive(Default)]
struct Routes(Vec<Route>);

impl Routes {
    fn add(
        &mut self,
        group: Group,
        method: &'static str,
        path: &'static str,
        handler: MethodRouter<App>,
    ) {
        self.0.push(Route {
            spec: RouteSpec {
                group,
                method,
                path,
            },
            handler,
        });
    }
}

macro_rules! method {
    (GET, $h:expr) => {
        ("GET", on(MethodFilter::GET, $h))
    };
    (POST, $h:expr) => {
        ("POST", on(MethodFilter::POST, $h))
    };
    (PATCH, $h:expr) => {
        ("PATCH", on(MethodFilter::PATCH, $h))
    };
    (HEAD, $h:expr) => {
        ("HEAD", on(MethodFilter::HEAD, $h))
    };
    (DELETE, $h:expr) => {
        ("DELETE", on(MethodFilter::DELETE, $h))
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
type MethodEntry = (&'static str, MethodRouter<App>);

fn declared() -> Routes {
    use Group::*;
    // osquery paths are served twice: orbit hands osqueryd the `/api/v1/` form.
    let table: Vec<(Group, &'static str, MethodEntry)> = vec![
        (
            Enroll,
            "/api/osquery/enroll",
            method!(POST, osquery::enroll::enroll),
        ),
        (
            Enroll,
            "/api/v1/osquery/enroll",
            method!(POST, osquery::enroll::enroll),
        ),
        (
            Config,
            "/api/osquery/config",
            method!(POST, osquery::config::config),
        ),
        (
            Config,
            "/api/v1/osquery/config",
            method!(POST, osquery::config::config),
        ),
        (
            Distributed,
            "/api/osquery/distributed/read",
            method!(POST, osquery::distributed::read),
        ),
        (
            Distributed,
            "/api/v1/osquery/distributed/read",
            method!(POST, osquery::distributed::read),
        ),
        (
            Distributed,
            "/api/osquery/distributed/write",
            method!(POST, osquery::distributed::write),
        ),
        (
            Distributed,
            "/api/v1/osquery/distributed/write",
            method!(POST, osquery::distributed::write),
        ),
        (Log, "/api/osquery/log", method!(POST, osquery::log::log)),
        (
            Carve,
            "/api/osquery/carve/begin",
            method!(POST, osquery::carve::begin),
        ),
        (
            Carve,
            "/api/v1/osquery/carve/begin",
            method!(POST, osquery::carve::begin),
        ),
        (
            Carve,
            "/api/osquery/carve/block",
            method!(POST, osquery::carve::block),
        ),
        (
            Carve,
            "/api/v1/osquery/carve/block",
            method!(POST, osquery::carve::block),
        ),
        (Log, "/api/v1/osquery/log", method!(POST, osquery::log::log)),
        (
            Orbit,
            "/api/fleet/orbit/enroll",
            orbit_route(method!(POST, orbit::enroll)),
        ),
        (
            Orbit,
            "/api/fleet/orbit/config",
            orbit_route(method!(POST, orbit::config)),
        ),
        (
            Orbit,
            "/api/fleet/orbit/device_token",
            orbit_route(method!(POST, orbit::device_token)),
        ),
        (
            Orbit,
            "/api/fleet/orbit/ping",
            orbit_route(method!(HEAD, orbit::ping)),
        ),
        (
            Desktop,
            "/api/v1/fleet/device/{token}/desktop",
            method!(GET, desktop::desktop),
        ),
        (
            Desktop,
            "/api/latest/fleet/device/{token}/desktop",
            method!(GET, desktop::desktop),
        ),
        (
            Desktop,
            "/api/v1/fleet/device/{token}",
            method!(GET, desktop::device),
        ),
        (
            Desktop,
            "/api/latest/fleet/device/{token}",
            method!(GET, desktop::device),
        ),
        (
            Desktop,
            "/api/v1/fleet/device/{token}/ping",
            method!(HEAD, desktop::ping),
        ),
        (
            Desktop,
            "/api/latest/fleet/device/{token}/ping",
            method!(HEAD, desktop::ping),
        ),
        (
            Desktop,
            "/device/{token}",
            method!(GET, desktop::my_device_page),
        ),
        (Admin, "/", method!(GET, health::health)),
        (
            Admin,
            "/api/v1/fleet/spec/enroll_secret",
            method!(GET, admin::enroll_secrets::get_spec),
        ),
        (
            Admin,
            "/api/v1/fleet/spec/enroll_secret",
            method!(POST, admin::enroll_secrets::apply_spec),
        ),
        (
            Admin,
            "/api/v1/fleet/teams",
            method!(GET, admin::teams::list),
        ),
        (
            Admin,
            "/api/v1/fleet/teams",
            method!(POST, admin::teams::create),
        ),
        (
            Admin,
            "/api/v1/fleet/teams/{id}/secrets",
            method!(GET, admin::teams::secrets),
        ),
        (
            Admin,
            "/api/v1/fleet/teams/{id}/secrets",
            method!(PATCH, admin::teams::replace_secrets),
        ),
        (
            Admin,
            "/api/v1/fleet/teams/{id}/agent_options",
            method!(POST, admin::teams::agent_options),
        ),
        (
            Admin,
            "/api/v1/fleet/config",
            method!(GET, admin::app_config::get),
        ),
        (
            Admin,
            "/api/v1/fleet/config",
            method!(PATCH, admin::app_config::patch),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts",
            method!(GET, admin::hosts::list),
        ),
        (
            Admin,
            "/api/v1/fleet/hosts/{id}",
            method!(GET, admin::hosts::get),
        ),
        (
            Admin,
            "/api/v1/fleet/queries",
            method!(GET, admin::queries::list),
        ),
        (
            Admin,
            "/api/v1/fleet/queries",
            method!(POST, admin::queries::create),
        ),
        (
            Admin,
            "/api/v1/fleet/queries/{id}",
            method!(DELETE, admin::queries::delete),
        ),
        (
            Admin,
            "/api/v1/fleet/queries/run",
            method!(POST, admin::campaigns::run),
        ),
        (
            Admin,
            "/api/v1/fleet/campaigns/{id}/results",
            method!(GET, admin::campaigns::results),
        ),
        (
            Admin,
            "/api/v1/fleet/carves",
            method!(GET, admin::carves::list),
        ),
        (
            Admin,
            "/api/v1/fleet/carves/{id}",
            method!(GET, admin::carves::get),
        ),
        (
            Admin,
            "/api/v1/fleet/carves/{id}/block/{block_id}",
            method!(GET, admin::carves::block),
        ),
        (
            Admin,
            "/api/v1/fleet/carves/{id}/download",
            method!(GET, admin::carves::download),
        ),
        (PackagerCreate, "/create", method!(POST, packager::create)),
        (PackagerStatus, "/status", method!(GET, packager::status)),
        (
            PackagerDownload,
            "/download/{package_id}",
            method!(GET, packager::download),
        ),
    ];
    let mut routes = Routes::default();
    for (group, path, (method, handler)) in table {
        routes.add(group, method, path, handler);
    }
    routes
}

/// The declared routes, for the template agreement test and `flotilla-local --routes`.
pub fn route_table() -> Vec<RouteSpec> {
    declared().0.into_iter().map(|route| route.spec).collect()
}

/// The router for these groups (all of them for flotilla-local, one per Lambda function).
pub fn router(app: App, groups: &[Group]) -> Router {
    let mut router = Router::new();
    for route in declared().0 {
        if groups.contains(&route.spec.group) {
            router = router.route(route.spec.path, route.handler);
        }
    }
    router
        .fallback(fallback::not_found)
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(axum::middleware::from_fn(request_log::log_request))
        .with_state(app)
}
