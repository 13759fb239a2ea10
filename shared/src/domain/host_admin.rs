//! Admin actions on hosts, as the JSON API and the admin UI both make them: the check of the
//! principal's role on each host's team (and on the destination), the change, and its record
//! in the activity log. Changes by filter are a `Job::HostsBulk` that works in steps.

use serde_json::{json, Value};

use super::host_changes::{self, BulkAction};
use super::host_listing::{self, HostCount, HostFilter, Scopes};
use super::hosts::{self, HostState};
use super::identity::audit;
use super::identity::principal::Principal;
use super::identity::roles::{Permission, Scope};
use super::teams;
use crate::app::AppInner;
use crate::error::ApiError;
use crate::jobs::Job;

/// The host if the principal may read it; a host of another team answers the same 404 as a
/// missing one, so ids cannot be probed.
pub async fn visible(
    app: &AppInner,
    principal: &Principal,
    id: u64,
) -> Result<HostState, ApiError> {
    hosts::load(app.state(), id)
        .await?
        .filter(|host| principal.can(Permission::ReadHosts, Scope::of(host.host.team_id)))
        .ok_or_else(|| ApiError::not_found(format!("host {id} not found")))
}

/// The ids sorted, without repeats: 400 unless 1 to `MAX_TRANSFER` of them (`what` names the
/// field in the message).
pub fn checked_ids(mut ids: Vec<u64>, what: &str) -> Result<Vec<u64>, ApiError> {
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() > host_changes::MAX_TRANSFER {
        return Err(ApiError::bad_request(format!(
            "{what} must list 1 to {} host ids",
            host_changes::MAX_TRANSFER
        )));
    }
    Ok(ids)
}

/// 403 unless the principal may change hosts of every one of these (404 for one that does not
/// exist): checked for all before anything changes.
async fn require_all(app: &AppInner, principal: &Principal, ids: &[u64]) -> Result<(), ApiError> {
    for id in ids {
        hosts::require_access(app.state(), principal, Permission::WriteHosts, *id).await?;
    }
    Ok(())
}

/// The principal may move hosts into this team (None: no team), which exists.
pub async fn require_destination(
    app: &AppInner,
    principal: &Principal,
    team_id: Option<u64>,
) -> Result<(), ApiError> {
    principal.require(Permission::WriteHosts, Scope::of(team_id))?;
    if let Some(team) = team_id {
        teams::require(app.state(), team).await?;
    }
    Ok(())
}

/// Deletes one host the principal may change (404 for none, 403 outside its teams).
pub async fn delete(
    app: &AppInner,
    principal: &Principal,
    id: u64,
    ip: &str,
) -> Result<(), ApiError> {
    let state = hosts::require_access(app.state(), principal, Permission::WriteHosts, id).await?;
    host_changes::delete(app, id).await?;
    audit::record(
        app,
        principal.actor(),
        "deleted_host",
        json!({"host_id": id, "host_display_name": state.host.hostname, "team_id": state.host.team_id}),
        ip,
    )
    .await
}

/// Deletes these hosts (`checked_ids`) now, if the principal may change every one of them;
/// one already gone meanwhile is skipped.
pub async fn delete_ids(
    app: &AppInner,
    principal: &Principal,
    ids: &[u64],
    ip: &str,
) -> Result<(), ApiError> {
    require_all(app, principal, ids).await?;
    for id in ids {
        match host_changes::delete(app, *id).await {
            Ok(()) | Err(ApiError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    audit::record(
        app,
        principal.actor(),
        "deleted_hosts",
        json!({"host_ids": ids}),
        ip,
    )
    .await
}

/// Moves these hosts (`checked_ids`) to `team_id`: the principal needs `WriteHosts` on the
/// destination and on every host's current team; nothing moves unless all may.
pub async fn transfer_ids(
    app: &AppInner,
    principal: &Principal,
    team_id: Option<u64>,
    ids: &[u64],
    ip: &str,
) -> Result<(), ApiError> {
    require_destination(app, principal, team_id).await?;
    require_all(app, principal, ids).await?;
    host_changes::transfer(app, team_id, ids).await?;
    audit::record(
        app,
        principal.actor(),
        "transferred_hosts",
        json!({"team_id": team_id, "host_ids": ids}),
        ip,
    )
    .await
}

/// Starts `action` on every host `filter` matches, in steps (a job), and answers how many
/// that is now. The filter's teams must already be within those the principal may change
/// hosts of (`Scopes::within` with `teams_with(WriteHosts)`); a transfer's destination is
/// checked here.
pub async fn start_by_filter(
    app: &AppInner,
    principal: &Principal,
    ip: &str,
    action: BulkAction,
    filter: HostFilter,
) -> Result<HostCount, ApiError> {
    let (activity, team_id) = match &action {
        BulkAction::Transfer { team_id } => {
            require_destination(app, principal, *team_id).await?;
            ("transferred_hosts", *team_id)
        }
        BulkAction::Delete => ("deleted_hosts", None),
    };
    let rules = host_listing::status_rules(app).await?;
    let counted = host_listing::count(app.state(), app.clock.unix(), &rules, &filter).await?;
    let job = Job::HostsBulk {
        action,
        filter: filter.clone(),
        cursor: None,
    };
    app.ports
        .queue
        .send(&job.to_message()?)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    audit::record(
        app,
        principal.actor(),
        activity,
        json!({
            "filters": {
                "platform": filter.platform,
                "status": filter.status,
                "query": filter.search,
                "osquery_version": filter.osquery_version,
                "teams": match &filter.scopes { Scopes::All => Value::Null, Scopes::Only(t) => json!(t) },
            },
            "team_id": team_id,
            "host_count": counted.count,
        }),
        ip,
    )
    .await?;
    Ok(counted)
}
