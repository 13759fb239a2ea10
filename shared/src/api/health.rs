//! `GET /healthz`: a health answer for load balancers and curious humans.

use axum::Json;
use serde_json::{json, Value};

pub async fn health() -> Json<Value> {
    Json(json!({
        "status": "ok",
        "service": "flotilla",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
