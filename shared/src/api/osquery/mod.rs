//! osquery's TLS remote API (wire-contracts.md). Every path is served at `/api/osquery/...`
//! and `/api/v1/osquery/...`.

pub mod carve;
pub mod config;
pub mod distributed;
pub mod enroll;
pub mod log;

use axum::http::{header, HeaderMap};
use serde_json::Value;

/// The node key: the body's `node_key`, or else `Authorization: NodeKey <key>`.
pub fn node_key<'a>(headers: &'a HeaderMap, body: &'a Value) -> Option<&'a str> {
    body.get("node_key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("NodeKey "))
                .map(str::trim)
        })
}
