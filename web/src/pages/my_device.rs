//! The "My device" page Fleet Desktop opens in the employee's browser: their own host, reached
//! with its device token (no admin session). It loads nothing from anywhere: its one style
//! block is allowed by its hash, and the URL holds the token, so no referrer leaves it.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use base64::Engine;
use flotilla::api::desktop::DeviceHost;
use flotilla::api::time_text::time_ago;
use flotilla::app::App;
use flotilla::domain::{app_config, teams};
use flotilla::error::ApiResult;
use maud::{html, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;

const PAGE_STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#192147}
main{max-width:40rem;margin:3rem auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.1)}
h1{font-size:1.4rem;margin:0 0 1.5rem} dl{display:grid;grid-template-columns:10rem 1fr;gap:.6rem 1rem;margin:0}
dt{color:#515774} dd{margin:0;font-weight:600} footer{margin-top:2rem;color:#515774;font-size:.9rem}
@media (prefers-color-scheme: dark){body{background:#0d1117;color:#e6edf3}main{background:#161b22}dt,footer{color:#9da7b1}a{color:#79c0ff}}
"#;

/// Nothing from elsewhere, and of inline styles only `PAGE_STYLE`, by its hash.
static PAGE_CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PAGE_STYLE));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// The page layers, then this page's own policy and no referrer (outermost, so they win).
pub fn layers(route: MethodRouter<App>) -> MethodRouter<App> {
    let own = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            |_: &Response| Some(PAGE_CSP.clone()),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ));
    crate::headers::page_layers(route).layer(own)
}

pub async fn show(State(app): State<App>, DeviceHost(host): DeviceHost) -> ApiResult<Response> {
    let config = app_config::load(app.state()).await?;
    let now = app.clock.now();
    let view = host.to_json(now);
    // A value the host has not sent yet says so, rather than leaving a blank.
    let field = |name: &str| -> String {
        view[name]
            .as_str()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or("Not reported yet")
            .to_string()
    };
    let team = match host.host.team_id {
        Some(id) => teams::get(app.state(), id)
            .await?
            .map_or_else(|| format!("Team {id}"), |t| t.name),
        None => "No team".to_string(),
    };
    let seen = view["seen_time"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let org = &config.org_info.org_name;
    // Only a web address the admin configured; none by default (never Fleet's own page).
    let contact_url = config.org_info.contact_url.trim();
    let contact = contact_url.starts_with("https://") || contact_url.starts_with("http://");
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "My device · " (org) }
                style { (PreEscaped(PAGE_STYLE)) }
            }
            body {
                main {
                    h1 { (field("display_name")) }
                    dl {
                        dt { "Operating system" } dd { (field("os_version")) }
                        dt { "osquery" } dd { (field("osquery_version")) }
                        dt { "Last seen" }
                        dd {
                            @match seen {
                                Some(t) => time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M:%S UTC")) { (time_ago(now, t)) },
                                None => "Not reported yet",
                            }
                        }
                        dt { "Status" } dd { (field("status")) }
                        dt { "Team" } dd { (team) }
                        dt { "Serial number" } dd { (field("hardware_serial")) }
                    }
                    footer {
                        "Managed by " (org) "."
                        @if contact {
                            " Questions? " a href=(contact_url) rel="noreferrer" { "Contact your IT team" } "."
                        }
                    }
                }
            }
        }
    };
    Ok(page.into_response())
}
