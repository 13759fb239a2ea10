//! Teams, their enroll secrets and their agent options.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::enroll_secrets::SecretEntry;
use super::{Admin, Id};
use crate::api::body::{parse, JsonBody};
use crate::app::App;
use crate::domain::{enroll_secrets, teams};
use crate::error::ApiResult;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

pub async fn create(
    _: Admin,
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: NewTeam = parse(body)?;
    let _ = request.description;
    let team = teams::create(app.state(), app.clock.now(), &request.name).await?;
    Ok(Json(json!({ "team": team })))
}

pub async fn list(_: Admin, State(app): State<App>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "teams": teams::list(app.state()).await? })))
}

pub async fn secrets(_: Admin, State(app): State<App>, Id(id): Id) -> ApiResult<Json<Value>> {
    teams::require(app.state(), id).await?;
    let secrets = enroll_secrets::list(app.state(), Some(id)).await?;
    Ok(Json(json!({ "secrets": secrets })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsRequest {
    secrets: Vec<SecretEntry>,
}

/// Replaces the team's secrets (entries without `secret` are generated).
pub async fn replace_secrets(
    _: Admin,
    State(app): State<App>,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: SecretsRequest = parse(body)?;
    teams::require(app.state(), id).await?;
    let wanted = request.secrets.into_iter().map(|s| s.secret).collect();
    let secrets = enroll_secrets::replace(app.state(), app.clock.now(), Some(id), wanted).await?;
    Ok(Json(json!({ "secrets": secrets })))
}

/// The body is the agent options object itself, as in Fleet.
pub async fn agent_options(
    _: Admin,
    State(app): State<App>,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let team = teams::set_agent_options(app.state(), id, body).await?;
    Ok(Json(json!({ "team": team })))
}
