//! Who may run, see and stop live-query campaigns: the one set of rules the API
//! (`api/admin/campaigns.rs`) and the admin UI's Live query pages both apply.

use super::campaigns::{self, Campaign};
use super::hosts;
use super::identity::principal::Principal;
use super::identity::roles::{Permission, TeamFilter};
use super::live::Targets;
use super::scheduled_queries;
use crate::app::AppInner;
use crate::error::ApiError;

/// What a run asks for: its SQL, and the permission that lets it run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnableSql {
    pub sql: String,
    /// `RunAnyQuery` for any SQL; `RunSavedQueries` for a saved query marked
    /// `observer_can_run`.
    pub permission: Permission,
}

/// The SQL of a run given as SQL or as a saved query's id, and the permission it needs:
/// any SQL needs `RunAnyQuery`; a saved query marked `observer_can_run` needs only
/// `RunSavedQueries`.
pub async fn runnable(
    app: &AppInner,
    query: Option<&str>,
    query_id: Option<u64>,
) -> Result<RunnableSql, ApiError> {
    match (query, query_id) {
        (Some(sql), None) => Ok(RunnableSql {
            sql: sql.to_string(),
            permission: Permission::RunAnyQuery,
        }),
        (None, Some(id)) => {
            let saved = scheduled_queries::get(app.state(), id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("query {id} not found")))?;
            Ok(RunnableSql {
                sql: saved.query,
                permission: saved_query_permission(saved.observer_can_run),
            })
        }
        _ => Err(ApiError::bad_request("give either query or query_id")),
    }
}

/// The permission running a saved query needs.
pub fn saved_query_permission(observer_can_run: bool) -> Permission {
    if observer_can_run {
        Permission::RunSavedQueries
    } else {
        Permission::RunAnyQuery
    }
}

/// The targets narrowed to what the principal may run on with `permission`: `all` becomes
/// its teams; named teams and hosts outside them are refused (403), as is a principal who
/// holds the permission nowhere.
pub async fn allowed_targets(
    app: &AppInner,
    principal: &Principal,
    permission: Permission,
    selected: Targets,
) -> Result<Targets, ApiError> {
    if !principal.roles.can_somewhere(permission) {
        return Err(ApiError::forbidden());
    }
    let filter = principal.teams_with(permission);
    let TeamFilter::Only(teams) = &filter else {
        return Ok(selected);
    };
    if teams.is_empty() {
        return Err(ApiError::forbidden());
    }
    if selected.teams.iter().any(|t| !teams.contains(t)) {
        return Err(ApiError::forbidden());
    }
    for host in &selected.hosts {
        hosts::require_access(app.state(), principal, permission, *host).await?;
    }
    let mut narrowed = selected;
    if narrowed.all {
        narrowed.all = false;
        narrowed.teams = teams.clone();
    }
    Ok(narrowed)
}

/// The campaign if the principal may see it; 404 otherwise, the same as a missing one, so
/// another team's campaign cannot be told from none.
pub async fn visible(app: &AppInner, principal: &Principal, id: u64) -> Result<Campaign, ApiError> {
    campaigns::get_visible(
        app.state(),
        id,
        &principal.teams_with(Permission::ReadCampaigns),
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("campaign {id} not found")))
}

/// Whether the principal may stop the campaign: its creator may; so may whoever may run any
/// SQL on every team it touches.
pub fn may_stop(principal: &Principal, campaign: &Campaign) -> bool {
    let own = campaign.created_by.is_some() && campaign.created_by == principal.user_id();
    own || inside_teams(principal, campaign, Permission::RunAnyQuery)
}

/// 403 unless `may_stop`.
pub fn require_can_stop(principal: &Principal, campaign: &Campaign) -> Result<(), ApiError> {
    if may_stop(principal, campaign) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// A team user acts on a campaign only when it touches nothing outside its teams: a campaign
/// on all hosts (a global user's) or on another team too is refused.
fn inside_teams(principal: &Principal, campaign: &Campaign, permission: Permission) -> bool {
    match principal.teams_with(permission) {
        TeamFilter::All => true,
        TeamFilter::Only(teams) => {
            !campaign.targets.all
                && campaign.targets.teams.iter().all(|t| teams.contains(t))
                && campaign.host_teams.iter().all(|t| teams.contains(t))
                && !campaign.unteamed_hosts
                && (!campaign.targets.teams.is_empty() || !campaign.host_teams.is_empty())
        }
    }
}
