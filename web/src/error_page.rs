//! Failures on a page read as a page: the API's JSON errors (from `authorize` or the domain,
//! one mapping in `flotilla::error`) become an HTML page with the same status and message.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::layout;

/// The largest error body read back (an API error is a few hundred bytes).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

pub async fn as_html(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = axum::body::to_bytes(body, ERROR_BODY_LIMIT)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let page = render(status, &message).into_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(page))
}

fn render(status: StatusCode, message: &str) -> maud::Markup {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    layout::bare(
        title,
        html! {
            h1 { (title) }
            p role="alert" { (message) }
            p { a href="/" { "Back to the dashboard" } }
        },
    )
}

/// A plain 404 page for a path no page has.
pub fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        render(StatusCode::NOT_FOUND, "There is no such page."),
    )
        .into_response()
}
