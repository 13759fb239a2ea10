//! Teams, their enroll secrets and their agent options.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::enroll_secrets::SecretEntry;
use super::Id;
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::audit;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, Scope};
use crate::domain::{enroll_secrets, team_removal, teams};
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
    let team = teams::create(app.state(), app.clock.now(), &request.name).await?;
    record(&app, &principal, "created_team", &team, &ip).await?;
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
    let Some(name) = request.name else {
        // Nothing this deployment keeps was asked to change.
        return Ok(Json(
            json!({ "team": teams::require(app.state(), id).await? }),
        ));
    };
    let team = teams::rename(app.state(), id, &name).await?;
    record(&app, &principal, "edited_team", &team, &ip).await?;
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
    let team = team_removal::remove(&app, id).await?;
    record(&app, &principal, "deleted_team", &team, &ip).await?;
    Ok(Json(json!({})))
}

/// The teams the principal has a role on (all of them for a global role).
pub async fn list(principal: Principal, State(app): State<App>) -> ApiResult<Json<Value>> {
    let visible = principal.teams_with(Permission::ReadTeams);
    let teams: Vec<teams::Team> = teams::list(app.state())
        .await?
        .into_iter()
        .filter(|t| visible.includes(Some(t.id)))
        .collect();
    Ok(Json(json!({ "teams": teams })))
}

pub async fn secrets(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let secrets = enroll_secrets::readable(&app, &principal, Some(id)).await?;
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
    teams::require(app.state(), id).await?;
    let wanted = request.secrets.into_iter().map(|s| s.secret).collect();
    let secrets = enroll_secrets::replace(app.state(), app.clock.now(), Some(id), wanted).await?;
    audit::record(
        &app,
        principal.actor(),
        "edited_enroll_secrets",
        json!({"team_id": id, "count": secrets.len()}),
        &ip,
    )
    .await?;
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
    principal.require(Permission::WriteAgentOptions, Scope::Team(id))?;
    let team = teams::set_agent_options(app.state(), id, body).await?;
    record(&app, &principal, "edited_agent_options", &team, &ip).await?;
    Ok(Json(json!({ "team": team })))
}

/// Records an action on a team, named by its id and name.
async fn record(
    app: &App,
    principal: &Principal,
    kind: &str,
    team: &teams::Team,
    ip: &str,
) -> ApiResult<()> {
    audit::record(
        app,
        principal.actor(),
        kind,
        json!({"team_id": team.id, "team_name": team.name}),
        ip,
    )
    .await
}
