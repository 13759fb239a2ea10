//! `GET/POST /api/v1/fleet/spec/enroll_secret`: the global enroll secrets.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::principal::Principal;
use crate::domain::team_admin;
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

pub async fn get_spec(principal: Principal, State(app): State<App>) -> ApiResult<Json<Value>> {
    let secrets = crate::domain::enroll_secrets::readable(&app, &principal, None).await?;
    Ok(Json(json!({ "spec": { "secrets": secrets } })))
}

/// Replaces the global secrets with the given ones (entries without `secret` are generated).
pub async fn apply_spec(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: SpecRequest = parse(body)?;
    let wanted = request.spec.secrets.into_iter().map(|s| s.secret).collect();
    let secrets = team_admin::replace_secrets(&app, &principal, None, wanted, &ip).await?;
    Ok(Json(json!({ "spec": { "secrets": secrets } })))
}
