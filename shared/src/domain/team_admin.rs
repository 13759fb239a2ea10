//! Admin actions on teams, their enroll secrets and agent options (and the global secrets
//! and options, `team: None`), as the JSON API and the admin UI both make them: the check of
//! the principal's role on the team, the change, and its record in the activity log.

use serde_json::{json, Value};

use super::credentials::sha256_hex;
use super::enroll_secrets::{self, EnrollSecret};
use super::identity::audit;
use super::identity::principal::Principal;
use super::identity::roles::{Permission, Scope};
use super::teams::{self, Team};
use super::{app_config, team_removal};
use crate::app::AppInner;
use crate::error::ApiError;

/// The teams the principal may read (all of them for a global role).
pub async fn visible(app: &AppInner, principal: &Principal) -> Result<Vec<Team>, ApiError> {
    let visible = principal.teams_with(Permission::ReadTeams);
    Ok(teams::list(app.state())
        .await?
        .into_iter()
        .filter(|t| visible.includes(Some(t.id)))
        .collect())
}

/// One team, if the principal may read it (403 otherwise, 404 when there is none).
pub async fn read(app: &AppInner, principal: &Principal, id: u64) -> Result<Team, ApiError> {
    principal.require(Permission::ReadTeams, Scope::Team(id))?;
    teams::require(app.state(), id).await
}

/// Creates a team (with one generated enroll secret).
pub async fn create(
    app: &AppInner,
    principal: &Principal,
    name: &str,
    ip: &str,
) -> Result<Team, ApiError> {
    principal.require(Permission::ManageTeams, Scope::Global)?;
    let team = teams::create(app.state(), app.clock.now(), name).await?;
    record(app, principal, "created_team", &team, ip).await?;
    Ok(team)
}

/// Renames a team (a team admin may rename their own team).
pub async fn rename(
    app: &AppInner,
    principal: &Principal,
    id: u64,
    name: &str,
    ip: &str,
) -> Result<Team, ApiError> {
    principal.require(Permission::ManageTeams, Scope::Team(id))?;
    let team = teams::rename(app.state(), id, name).await?;
    record(app, principal, "edited_team", &team, ip).await?;
    Ok(team)
}

/// Deletes the team with its secrets and queries; its hosts go to no team, its users lose
/// their role on it (`team_removal`). A failed deletion is finished by calling it again.
pub async fn delete(
    app: &AppInner,
    principal: &Principal,
    id: u64,
    ip: &str,
) -> Result<Team, ApiError> {
    principal.require(Permission::ManageTeams, Scope::Global)?;
    let team = team_removal::remove(app, id).await?;
    record(app, principal, "deleted_team", &team, ip).await?;
    Ok(team)
}

/// Makes the secrets of a team (or the global ones) exactly `wanted`; `None` entries are
/// generated. The log records how many, never the secrets.
pub async fn replace_secrets(
    app: &AppInner,
    principal: &Principal,
    team: Option<u64>,
    wanted: Vec<Option<String>>,
    ip: &str,
) -> Result<Vec<EnrollSecret>, ApiError> {
    principal.require(Permission::WriteEnrollSecrets, Scope::of(team))?;
    if let Some(id) = team {
        teams::require(app.state(), id).await?;
    }
    let secrets = enroll_secrets::replace(app.state(), app.clock.now(), team, wanted).await?;
    audit::record(
        app,
        principal.actor(),
        "edited_enroll_secrets",
        json!({"team_id": team, "count": secrets.len()}),
        ip,
    )
    .await?;
    Ok(secrets)
}

/// Adds one generated secret to those of a team (or the global ones).
pub async fn add_secret(
    app: &AppInner,
    principal: &Principal,
    team: Option<u64>,
    ip: &str,
) -> Result<Vec<EnrollSecret>, ApiError> {
    principal.require(Permission::WriteEnrollSecrets, Scope::of(team))?;
    let mut wanted: Vec<Option<String>> = enroll_secrets::list(app.state(), team)
        .await?
        .into_iter()
        .map(|s| Some(s.secret))
        .collect();
    wanted.push(None);
    replace_secrets(app, principal, team, wanted, ip).await
}

/// Removes the secret whose SHA-256 is `hash` from a team's (or the global ones); 404 when
/// it is not one of them.
pub async fn remove_secret(
    app: &AppInner,
    principal: &Principal,
    team: Option<u64>,
    hash: &str,
    ip: &str,
) -> Result<Vec<EnrollSecret>, ApiError> {
    principal.require(Permission::WriteEnrollSecrets, Scope::of(team))?;
    let existing = enroll_secrets::list(app.state(), team).await?;
    let before = existing.len();
    let wanted: Vec<Option<String>> = existing
        .into_iter()
        .filter(|s| sha256_hex(&s.secret) != hash)
        .map(|s| Some(s.secret))
        .collect();
    if wanted.len() == before {
        return Err(ApiError::not_found("no such enroll secret"));
    }
    replace_secrets(app, principal, team, wanted, ip).await
}

/// The agent options stored for a team (None: it uses the global ones), or the global ones.
pub async fn agent_options(
    app: &AppInner,
    principal: &Principal,
    team: Option<u64>,
) -> Result<Option<Value>, ApiError> {
    match team {
        Some(id) => Ok(read(app, principal, id).await?.agent_options),
        None => {
            // Every role reads the global config (as `GET /api/v1/fleet/config`).
            if !principal.roles.can_somewhere(Permission::ReadConfig) {
                return Err(ApiError::forbidden());
            }
            Ok(Some(app_config::load(app.state()).await?.agent_options))
        }
    }
}

/// Replaces a team's agent options (or the global ones), validated first. With `reviewed`
/// (the `agent_options::fingerprint` of the options a change was made against), refuses
/// with 409 when they changed meanwhile.
pub async fn set_agent_options(
    app: &AppInner,
    principal: &Principal,
    team: Option<u64>,
    options: Value,
    reviewed: Option<&str>,
    ip: &str,
) -> Result<(), ApiError> {
    principal.require(Permission::WriteAgentOptions, Scope::of(team))?;
    match team {
        Some(id) => {
            let team = teams::set_agent_options(app.state(), id, options, reviewed).await?;
            record(app, principal, "edited_agent_options", &team, ip).await
        }
        None => {
            app_config::set_agent_options(app.state(), options, reviewed).await?;
            audit::record(
                app,
                principal.actor(),
                "edited_agent_options",
                json!({"global": true}),
                ip,
            )
            .await
        }
    }
}

/// Records an action on a team, named by its id and name.
async fn record(
    app: &AppInner,
    principal: &Principal,
    kind: &str,
    team: &Team,
    ip: &str,
) -> Result<(), ApiError> {
    audit::record(
        app,
        principal.actor(),
        kind,
        json!({"team_id": team.id, "team_name": team.name}),
        ip,
    )
    .await
}
