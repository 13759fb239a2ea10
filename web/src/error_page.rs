//! Failures on a page read as a page: the API's JSON errors (from `authorize` or the domain,
//! one mapping in `flotilla::error`) become an HTML page with the same status and message.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use flotilla::api::fallback::NoRoute;
use maud::html;
use tower::ServiceExt;

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

/// A browser asking for a page at a path no route takes (a mistyped link, a bookmark) gets
/// the "not found" page through `page` (the page layers: CSP and the other headers) instead
/// of the API's JSON; API clients, which do not ask for HTML, keep the JSON.
pub async fn page_for_no_route(
    State(page): State<MethodRouter>,
    request: Request,
    next: Next,
) -> Response {
    let wants_page = matches!(*request.method(), Method::GET | Method::HEAD)
        && !request.uri().path().starts_with("/api/")
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    if !wants_page {
        return next.run(request).await;
    }
    let mut again = Request::new(Body::empty());
    *again.method_mut() = request.method().clone();
    *again.uri_mut() = request.uri().clone();
    *again.headers_mut() = request.headers().clone();
    let response = next.run(request).await;
    if response.extensions().get::<NoRoute>().is_none() {
        return response;
    }
    match page.oneshot(again).await {
        Ok(page) => page,
        Err(never) => match never {},
    }
}
