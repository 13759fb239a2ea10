//! Teams: a name, their own enroll secrets and optionally their own agent options.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{agent_options, enroll_secrets, layout, records};
use crate::error::ApiError;
use crate::ports::state::gsi1_records;
use crate::ports::{Cond, Item, StateStore, StoreError, WriteOp};

const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: u64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Replaces the global agent options for the team's hosts when set.
    #[serde(default)]
    pub agent_options: Option<Value>,
    /// Set by the first step of a deletion (`team_removal`): the team is gone for everyone
    /// else, so nothing new attaches to it while its secrets, queries, roles and hosts are
    /// removed, and a retried deletion still finds it to finish the job.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
}

/// The team, unless absent or being deleted.
pub async fn get(store: &dyn StateStore, id: u64) -> Result<Option<Team>, StoreError> {
    Ok(get_stored(store, id)
        .await?
        .map(|(team, _)| team)
        .filter(|team| !team.deleting))
}

/// The stored team item and its version, even when being deleted.
pub async fn get_stored(
    store: &dyn StateStore,
    id: u64,
) -> Result<Option<(Team, u64)>, StoreError> {
    match store.get(&layout::team(id)).await? {
        Some(item) => Ok(Some((item.decode()?, item.version))),
        None => Ok(None),
    }
}

fn not_found(id: u64) -> ApiError {
    ApiError::not_found(format!("team {id} not found"))
}

pub async fn require(store: &dyn StateStore, id: u64) -> Result<Team, ApiError> {
    get(store, id).await?.ok_or_else(|| not_found(id))
}

fn check_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ApiError::bad_request(format!(
            "team name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    Ok(name)
}

fn name_taken(name: &str) -> ApiError {
    ApiError::Conflict(format!("a team named {name:?} already exists"))
}

/// Creates the team with one generated enroll secret, as Fleet does.
pub async fn create(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    name: &str,
) -> Result<Team, ApiError> {
    let name = check_name(name)?;
    let id = u64::try_from(store.increment(&layout::counter("team"), 1, None).await?)
        .map_err(|_| ApiError::Internal("team counter went negative".into()))?;
    let team = Team {
        id,
        name: name.to_string(),
        created_at: now,
        agent_options: None,
        deleting: false,
    };
    let ops = vec![
        WriteOp::Put {
            item: Item::new(
                layout::team_name(&name.to_lowercase()),
                serde_json::json!({ "team_id": id }),
            ),
            cond: Cond::NotExists,
        },
        WriteOp::Put {
            item: Item::encode(layout::team(id), &team)?.with_gsi1(layout::teams_index(id)),
            cond: Cond::NotExists,
        },
    ];
    match store.write(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(name_taken(name)),
        Err(other) => return Err(other.into()),
    }
    enroll_secrets::replace(store, now, Some(id), vec![None]).await?;
    Ok(team)
}

pub async fn list(store: &dyn StateStore) -> Result<Vec<Team>, StoreError> {
    let mut teams: Vec<Team> = gsi1_records(store, "TEAMS").await?;
    teams.retain(|t| !t.deleting);
    teams.sort_by_key(|t| t.id);
    Ok(teams)
}

const RENAME_ATTEMPTS: usize = 5;

/// Renames the team. The name claim moves in the same write as the team (new claim
/// NotExists, old one deleted), so two teams never hold one name and a failed rename leaves
/// the old name claimed. A change of case only rewrites the team: the claim is lowercase.
pub async fn rename(store: &dyn StateStore, id: u64, name: &str) -> Result<Team, ApiError> {
    let name = check_name(name)?;
    let new_claim = layout::team_name(&name.to_lowercase());
    for _ in 0..RENAME_ATTEMPTS {
        let (mut team, version) = get_stored(store, id)
            .await?
            .filter(|(team, _)| !team.deleting)
            .ok_or_else(|| not_found(id))?;
        if team.name == name {
            return Ok(team);
        }
        let old_claim = layout::team_name(&team.name.to_lowercase());
        team.name = name.to_string();
        let mut ops = vec![WriteOp::Put {
            item: Item::encode(layout::team(id), &team)?.with_gsi1(layout::teams_index(id)),
            cond: Cond::Version(version),
        }];
        if old_claim != new_claim {
            ops.push(WriteOp::Put {
                item: Item::new(new_claim.clone(), serde_json::json!({ "team_id": id })),
                cond: Cond::NotExists,
            });
            ops.push(WriteOp::Delete {
                key: old_claim,
                cond: Cond::None,
            });
        }
        match store.write(ops).await {
            Ok(()) => return Ok(team),
            Err(StoreError::ConditionFailed) => {
                // The name is taken, or the team changed meanwhile (then look again).
                let holder = store.get(&new_claim).await?.and_then(|claim| {
                    claim
                        .data
                        .get("team_id")
                        .and_then(serde_json::Value::as_u64)
                });
                if holder.is_some_and(|holder| holder != id) {
                    return Err(name_taken(name));
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Unavailable(format!(
        "team {id} kept changing, retry"
    )))
}

/// Replaces the team's agent options (validated first). With `reviewed`, only if the
/// options are still those it fingerprints (`agent_options::check_reviewed`), else 409.
pub async fn set_agent_options(
    store: &dyn StateStore,
    id: u64,
    options: Value,
    reviewed: Option<&str>,
) -> Result<Team, ApiError> {
    agent_options::validate(&options)?;
    records::update(
        store,
        &layout::team(id),
        Some(layout::teams_index(id)),
        |team: Option<Team>| {
            let mut team = team.filter(|t| !t.deleting).ok_or_else(|| not_found(id))?;
            agent_options::check_reviewed(team.agent_options.as_ref(), reviewed)?;
            team.agent_options = Some(options.clone());
            Ok(team)
        },
    )
    .await
}
