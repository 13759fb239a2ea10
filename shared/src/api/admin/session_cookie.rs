//! The browser's session cookie and its CSRF token.

use axum::http::{header, HeaderMap, HeaderValue};
use base64::Engine;
use cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};

/// `__Host-`: the browser only accepts it Secure, from this host, with `Path=/`.
pub const SESSION_COOKIE: &str = "__Host-flotilla_session";
/// The `state` of a single sign-on in progress, so only the browser that started it can
/// finish it.
pub const SSO_STATE_COOKIE: &str = "__Host-flotilla_sso";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The per-session CSRF token: derived from the session token, so it needs no storage and
/// tells nothing about the token.
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::digest(format!("flotilla-csrf:{session_token}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// A cookie's value from the request's `Cookie` headers.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

fn build(name: &str, value: String, max_age_secs: i64) -> Option<HeaderValue> {
    build_with(name, value, max_age_secs, SameSite::Strict)
}

fn build_with(
    name: &str,
    value: String,
    max_age_secs: i64,
    same_site: SameSite,
) -> Option<HeaderValue> {
    let cookie = Cookie::build((name.to_string(), value))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(same_site)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// `Set-Cookie` for a new session, lasting as long as its absolute lifetime. `Lax`, so a
/// link from elsewhere (a bookmark in a chat, the identity provider's redirect back) opens
/// the page signed in; what changes state needs our `Origin` and the CSRF token besides.
pub fn set(name: &str, token: &str, max_age_secs: i64) -> Option<HeaderValue> {
    build_with(name, token.to_string(), max_age_secs, SameSite::Lax)
}

/// Adds the new session's cookie to an answer, lasting the session's absolute lifetime.
pub fn attach_session(headers: &mut axum::http::HeaderMap, token: &str, lifetime_secs: i64) {
    if let Some(cookie) = set(SESSION_COOKIE, token, lifetime_secs) {
        headers.append(header::SET_COOKIE, cookie);
    }
}

/// A cookie the browser must send on a top-level navigation from another site (the identity
/// provider's redirect back).
pub fn set_lax(name: &str, value: &str, max_age_secs: i64) -> Option<HeaderValue> {
    build_with(name, value.to_string(), max_age_secs, SameSite::Lax)
}

/// `Set-Cookie` that removes it.
pub fn clear(name: &str) -> Option<HeaderValue> {
    build(name, String::new(), 0)
}
