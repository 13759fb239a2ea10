//! `POST /api/osquery/distributed/read` and `/write`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};

use super::node_key;
use crate::api::body::JsonBody;
use crate::app::App;
use crate::domain::distributed::{self, Answers};
use crate::domain::host_auth::check_in;
use crate::error::{ApiError, ApiResult};

pub async fn read(
    State(app): State<App>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let auth = check_in(&app, node_key(&headers, &body)).await?;
    let handed = distributed::read(&app, auth).await?;
    // `accelerate` is left out: osquery reads its absence as 0.
    Ok(Json(
        json!({ "queries": handed.queries, "discovery": handed.discovery }),
    ))
}

fn object_field(body: &mut Value, name: &str) -> Result<Map<String, Value>, ApiError> {
    match body.get_mut(name).map(Value::take) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be an object"))),
    }
}

pub async fn write(
    State(app): State<App>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody,
) -> ApiResult<Json<Value>> {
    let auth = check_in(&app, node_key(&headers, &body)).await?;
    if !body.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let answers = Answers {
        queries: object_field(&mut body, "queries")?,
        statuses: object_field(&mut body, "statuses")?,
        messages: object_field(&mut body, "messages")?,
        stats: object_field(&mut body, "stats")?,
    };
    distributed::write(&app, &auth, answers).await?;
    Ok(Json(json!({})))
}
