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
}

pub async fn get(store: &dyn StateStore, id: u64) -> Result<Option<Team>, StoreError> {
    match store.get(&layout::team(id)).await? {
        Some(item) => item.decode().map(Some),
        None => Ok(None),
    }
}

pub async fn require(store: &dyn StateStore, id: u64) -> Result<Team, ApiError> {
    get(store, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("team {id} not found")))
}

/// Creates the team with one generated enroll secret, as Fleet does.
pub async fn create(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    name: &str,
) -> Result<Team, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ApiError::bad_request(format!(
            "team name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    let id = u64::try_from(store.increment(&layout::counter("team"), 1, None).await?)
        .map_err(|_| ApiError::Internal("team counter went negative".into()))?;
    let team = Team {
        id,
        name: name.to_string(),
        created_at: now,
        agent_options: None,
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
        Err(StoreError::ConditionFailed) => {
            return Err(ApiError::Conflict(format!(
                "a team named {name:?} already exists"
            )))
        }
        Err(other) => return Err(other.into()),
    }
    enroll_secrets::replace(store, now, Some(id), vec![None]).await?;
    Ok(team)
}

pub async fn list(store: &dyn StateStore) -> Result<Vec<Team>, StoreError> {
    let mut teams: Vec<Team> = gsi1_records(store, "TEAMS").await?;
    teams.sort_by_key(|t| t.id);
    Ok(teams)
}

/// Replaces the team's agent options (validated first).
pub async fn set_agent_options(
    store: &dyn StateStore,
    id: u64,
    options: Value,
) -> Result<Team, ApiError> {
    agent_options::validate(&options)?;
    records::update(
        store,
        &layout::team(id),
        Some(layout::teams_index(id)),
        |team: Option<Team>| {
            let mut team =
                team.ok_or_else(|| ApiError::not_found(format!("team {id} not found")))?;
            team.agent_options = Some(options.clone());
            Ok(team)
        },
    )
    .await
}
