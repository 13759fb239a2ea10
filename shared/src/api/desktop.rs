//! Fleet Desktop's device API and the "My device" page. The device token is in the path:
//! it is never logged (the request log names the route template only), and invalid tokens
//! are rate-limited per source address in the state store.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, request::Parts, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::client_ip::ClientIp;
use crate::app::App;
use crate::domain::hosts::{self, HostState};
use crate::domain::rate_limit::{Verdict, DEVICE_TOKEN_ERRORS};
use crate::domain::{app_config, orbit, teams};
use crate::error::{ApiError, ApiResult};
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The host whose valid device token is in the path.
pub struct DeviceHost(pub HostState);

impl FromRequestParts<App> for DeviceHost {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, app).await;
        let Path(token) = Path::<String>::from_request_parts(parts, app)
            .await
            .map_err(|_| ApiError::bad_request("invalid device token"))?;
        let store = app.state();
        let now = app.clock.unix();
        if let Verdict::Limited { retry_after } = DEVICE_TOKEN_ERRORS.check(store, &ip, now).await?
        {
            return Err(ApiError::TooManyRequests { retry_after });
        }
        if let Some(host_id) = orbit::host_for_device_token(store, &token).await? {
            if let Some(state) = hosts::load(store, host_id).await? {
                return Ok(DeviceHost(state));
            }
        }
        match DEVICE_TOKEN_ERRORS.hit(store, &ip, now).await? {
            Verdict::Limited { retry_after } => Err(ApiError::TooManyRequests { retry_after }),
            Verdict::Allowed => Err(ApiError::Unauthorized),
        }
    }
}

pub async fn desktop(State(app): State<App>, DeviceHost(_): DeviceHost) -> ApiResult<Json<Value>> {
    let config = app_config::load(app.state()).await?;
    Ok(Json(json!({
        "failing_policies_count": 0,
        "self_service": false,
        "notifications": {},
        "config": { "org_info": config.org_info },
    })))
}

pub async fn device(
    State(app): State<App>,
    DeviceHost(host): DeviceHost,
) -> ApiResult<Json<Value>> {
    let config = app_config::load(app.state()).await?;
    Ok(Json(json!({
        "host": host.to_json(app.clock.now()),
        "org_info": config.org_info,
        "license": { "tier": "free" },
    })))
}

pub async fn ping(DeviceHost(_): DeviceHost) -> Json<Value> {
    Json(json!({}))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's only style sheet, inline: the page loads nothing from anywhere.
const PAGE_STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#192147}
main{max-width:40rem;margin:3rem auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.1)}
h1{font-size:1.4rem;margin:0 0 1.5rem} dl{display:grid;grid-template-columns:10rem 1fr;gap:.6rem 1rem;margin:0}
dt{color:#515774} dd{margin:0;font-weight:600} footer{margin-top:2rem;color:#515774;font-size:.9rem}
"#;

/// Nothing from elsewhere, and of inline styles only `PAGE_STYLE`, allowed by its hash (no
/// blanket permission for inline code); the URL holds the token, so no referrer.
fn page_csp() -> &'static HeaderValue {
    static CSP: OnceLock<HeaderValue> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PAGE_STYLE));
        let policy = format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        );
        HeaderValue::from_str(&policy)
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
    })
}

/// The "My device" page Fleet Desktop opens in the browser.
pub async fn my_device_page(
    State(app): State<App>,
    DeviceHost(host): DeviceHost,
) -> ApiResult<Response> {
    let config = app_config::load(app.state()).await?;
    let now = app.clock.now();
    let view = host.to_json(now);
    // A value the host has not sent yet says so, rather than leaving a blank.
    let field = |name: &str| {
        escape(
            view[name]
                .as_str()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or("Not reported yet"),
        )
    };
    let team = match host.host.team_id {
        Some(id) => teams::get(app.state(), id)
            .await?
            .map_or_else(|| format!("Team {id}"), |t| t.name),
        None => "No team".to_string(),
    };
    let seen = view["seen_time"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(
            || "Not reported yet".to_string(),
            |t| {
                let t = t.with_timezone(&Utc);
                format!(
                    r#"<time datetime="{}" title="{}">{}</time>"#,
                    t.to_rfc3339(),
                    t.format("%Y-%m-%d %H:%M:%S UTC"),
                    crate::api::time_text::time_ago(now, t)
                )
            },
        );
    let org = escape(&config.org_info.org_name);
    // Only a web address the admin configured; none by default (never Fleet's own page).
    let contact_url = config.org_info.contact_url.trim();
    let contact = if contact_url.starts_with("https://") || contact_url.starts_with("http://") {
        format!(
            r#" Questions? <a href="{}" rel="noreferrer">Contact your IT team</a>."#,
            escape(contact_url)
        )
    } else {
        String::new()
    };
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>My device · {org}</title>
<style>{PAGE_STYLE}</style></head>
<body><main>
<h1>{hostname}</h1>
<dl>
<dt>Operating system</dt><dd>{os}</dd>
<dt>osquery</dt><dd>{osquery}</dd>
<dt>Last seen</dt><dd>{seen}</dd>
<dt>Status</dt><dd>{status}</dd>
<dt>Team</dt><dd>{team}</dd>
<dt>Serial number</dt><dd>{serial}</dd>
</dl>
<footer>Managed by {org}.{contact}</footer>
</main></body></html>
"#,
        hostname = field("display_name"),
        os = field("os_version"),
        osquery = field("osquery_version"),
        status = field("status"),
        team = escape(&team),
        serial = field("hardware_serial"),
    );
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, page_csp().clone());
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape(r#"<b a="x">&'"#),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
