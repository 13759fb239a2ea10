//! `POST /api/osquery/log`: result and status lines into the log sink. Lines are stored
//! before the answer, or the answer is an error and osquery keeps and resends them.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::node_key;
use crate::api::body::JsonBody;
use crate::app::App;
use crate::domain::host_auth::check_in;
use crate::error::{ApiError, ApiResult};
use crate::ports::LogKind;

pub async fn log(
    State(app): State<App>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> ApiResult<Json<Value>> {
    let auth = check_in(&app, node_key(&headers, &body)).await?;
    let kind = match body.get("log_type").and_then(Value::as_str) {
        Some("result") => LogKind::Result,
        Some("status") => LogKind::Status,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "log_type must be \"result\" or \"status\", not {other:?}"
            )))
        }
        None => return Err(ApiError::bad_request("log_type is required")),
    };
    let data = match body.get_mut("data").map(Value::take) {
        Some(Value::Array(data)) => data,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(ApiError::bad_request("data must be an array")),
    };
    let mut lines = Vec::with_capacity(data.len());
    for line in &data {
        if !(line.is_object() || line.is_string()) {
            return Err(ApiError::bad_request(
                "every data entry must be a JSON object",
            ));
        }
        lines.push(line.to_string());
    }
    if !lines.is_empty() {
        let count = lines.len();
        app.ports.log_sink.send(kind, lines).await?;
        tracing::debug!(
            host_id = auth.host_id,
            kind = kind.as_str(),
            count,
            "logs stored"
        );
    }
    Ok(Json(json!({})))
}
