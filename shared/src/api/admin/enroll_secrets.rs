//! `GET/POST /api/v1/fleet/spec/enroll_secret`: the global enroll secrets.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Admin;
use crate::api::body::{parse, JsonBody};
use crate::app::App;
use crate::domain::enroll_secrets;
use crate::error::ApiResult;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SecretEntry {
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Deserialize)]
struct SpecRequest {
    spec: Spec,
}

#[derive(Deserialize)]
struct Spec {
    secrets: Vec<SecretEntry>,
}

pub async fn get_spec(_: Admin, State(app): State<App>) -> ApiResult<Json<Value>> {
    let secrets = enroll_secrets::list(app.state(), None).await?;
    Ok(Json(json!({ "spec": { "secrets": secrets } })))
}

/// Replaces the global secrets with the given ones (entries without `secret` are generated).
pub async fn apply_spec(
    _: Admin,
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: SpecRequest = parse(body)?;
    let wanted = request.spec.secrets.into_iter().map(|s| s.secret).collect();
    let secrets = enroll_secrets::replace(app.state(), app.clock.now(), None, wanted).await?;
    Ok(Json(json!({ "spec": { "secrets": secrets } })))
}
