//! Teams, their enroll secrets and their agent options (`domain::team_admin`).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::enroll_secrets::SecretEntry;
use super::Id;
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, Scope};
use crate::domain::team_admin;
use crate::error::ApiResult;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

pub async fn create(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: NewTeam = parse(body)?;
    let _ = request.description;
    let team = team_admin::create(&app, &principal, &request.name, &ip).await?;
    Ok(Json(json!({ "team": team })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamChange {
    #[serde(default)]
    name: Option<String>,
    /// Accepted and ignored, as on create: teams have no description here.
    #[serde(default)]
    description: Option<String>,
}

/// Fleet's modify team: a rename (a team admin may rename their own team).
pub async fn patch(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    principal.require(Permission::ManageTeams, Scope::Team(id))?;
    let request: TeamChange = parse(body)?;
    let _ = request.description;
    let team = match request.name {
        Some(name) => team_admin::rename(&app, &principal, id, &name, &ip).await?,
        // Nothing this deployment keeps was asked to change.
        None => team_admin::read(&app, &principal, id).await?,
    };
    Ok(Json(json!({ "team": team })))
}

/// Deletes the team with its secrets and queries; its hosts go to no team, its users lose
/// their role on it. A failed deletion is finished by calling it again.
pub async fn delete(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    team_admin::delete(&app, &principal, id, &ip).await?;
    Ok(Json(json!({})))
}

/// The teams the principal has a role on (all of them for a global role).
pub async fn list(principal: Principal, State(app): State<App>) -> ApiResult<Json<Value>> {
    let teams = team_admin::visible(&app, &principal).await?;
    Ok(Json(json!({ "teams": teams })))
}

pub async fn secrets(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let secrets = crate::domain::enroll_secrets::readable(&app, &principal, Some(id)).await?;
    Ok(Json(json!({ "secrets": secrets })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsRequest {
    secrets: Vec<SecretEntry>,
}

/// Replaces the team's secrets (entries without `secret` are generated).
pub async fn replace_secrets(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    principal.require(Permission::WriteEnrollSecrets, Scope::Team(id))?;
    let request: SecretsRequest = parse(body)?;
    let wanted = request.secrets.into_iter().map(|s| s.secret).collect();
    let secrets = team_admin::replace_secrets(&app, &principal, Some(id), wanted, &ip).await?;
    Ok(Json(json!({ "secrets": secrets })))
}

/// The body is the agent options object itself, as in Fleet.
pub async fn agent_options(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    team_admin::set_agent_options(&app, &principal, Some(id), body, None, &ip).await?;
    let team = team_admin::read(&app, &principal, id).await?;
    Ok(Json(json!({ "team": team })))
}
