//! The admin UI: server-rendered pages (maud) over the same domain functions as the JSON API,
//! served by the same router on Lambda (the admin function) and by `flotilla-local`.
//!
//! Every page is a route in `pages::routes()`, declared like the API's (group, method, path,
//! `Access::Page*`), so `authorize` checks the session before the page runs and the template
//! agreement test sees them. Forms are plain POST-redirect-GET; `assets/app.js` only enhances.

pub mod assets;
pub mod context;
pub mod error_page;
pub mod forms;
pub mod headers;
pub mod layout;
pub mod pages;

use axum::Router;
use flotilla::api::routes::{self, Group, RouteSpec};
use flotilla::app::App;

/// The API's routes and the UI's, for these function groups; a browser asking for a page
/// no route has gets the "not found" page (on AWS, API Gateway answers unknown paths itself).
pub fn router(app: App, groups: &[Group]) -> Router {
    let not_found = headers::page_layers(axum::routing::get(|| async { error_page::not_found() }))
        .with_state(app.clone());
    routes::router_with(app, groups, pages::routes()).layer(axum::middleware::from_fn_with_state(
        not_found,
        error_page::page_for_no_route,
    ))
}

/// Every declared route, the API's and the UI's (template agreement, `--routes`).
pub fn route_table() -> Vec<RouteSpec> {
    let mut table = routes::route_table();
    table.extend(pages::routes().into_iter().map(|route| route.spec));
    table
}
