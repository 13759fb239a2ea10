//! Saved queries with an interval: delivered to hosts as osquery packs, `Global` for global
//! queries and `team-<id>` for a team's, so results are named `pack/<pack>/<query>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::layout;
use crate::error::ApiError;
use crate::ports::state::query_all;
use crate::ports::{Cond, Item, Query, StateStore, StoreError, WriteOp};

const MAX_QUERY_LEN: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledQuery {
    pub id: u64,
    pub name: String,
    pub query: String,
    /// Seconds; 0 keeps the query saved but unscheduled.
    pub interval: u64,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub min_osquery_version: String,
    /// `snapshot` or `differential` (the default).
    #[serde(default = "default_logging")]
    pub logging: String,
    pub team_id: Option<u64>,
    /// Observers may run it as a live query.
    #[serde(default)]
    pub observer_can_run: bool,
    pub created_at: DateTime<Utc>,
}

fn default_logging() -> String {
    "differential".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewScheduledQuery {
    pub name: String,
    pub query: String,
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub min_osquery_version: String,
    #[serde(default = "default_logging")]
    pub logging: String,
    #[serde(default)]
    pub team_id: Option<u64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub observer_can_run: bool,
}

pub async fn list(store: &dyn StateStore) -> Result<Vec<ScheduledQuery>, StoreError> {
    query_all(store, Query::partition("SQUERY"))
        .await?
        .iter()
        .map(Item::decode)
        .collect()
}

pub async fn create(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    new: NewScheduledQuery,
) -> Result<ScheduledQuery, ApiError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > 255 || name.contains('/') {
        return Err(ApiError::bad_request(
            "query name must be 1 to 255 characters without '/'",
        ));
    }
    if new.query.trim().is_empty() || new.query.len() > MAX_QUERY_LEN {
        return Err(ApiError::bad_request(format!(
            "query must be 1 to {MAX_QUERY_LEN} characters"
        )));
    }
    if !matches!(new.logging.as_str(), "snapshot" | "differential") {
        return Err(ApiError::bad_request(
            "logging must be \"snapshot\" or \"differential\"",
        ));
    }
    let existing = list(store).await?;
    if existing
        .iter()
        .any(|q| q.team_id == new.team_id && q.name == name)
    {
        return Err(ApiError::Conflict(format!(
            "a query named {name:?} already exists"
        )));
    }
    let id = u64::try_from(store.increment(&layout::counter("query"), 1, None).await?)
        .map_err(|_| ApiError::Internal("query counter went negative".into()))?;
    let query = ScheduledQuery {
        id,
        name: name.to_string(),
        query: new.query,
        interval: new.interval,
        platform: new.platform,
        min_osquery_version: new.min_osquery_version,
        logging: new.logging,
        team_id: new.team_id,
        observer_can_run: new.observer_can_run,
        created_at: now,
    };
    store
        .write(vec![WriteOp::Put {
            item: Item::encode(layout::scheduled_query(id), &query)?,
            cond: Cond::NotExists,
        }])
        .await?;
    Ok(query)
}

pub async fn get(store: &dyn StateStore, id: u64) -> Result<Option<ScheduledQuery>, StoreError> {
    match store.get(&layout::scheduled_query(id)).await? {
        Some(item) => item.decode().map(Some),
        None => Ok(None),
    }
}

pub async fn delete(store: &dyn StateStore, id: u64) -> Result<(), ApiError> {
    match store
        .write(vec![WriteOp::Delete {
            key: layout::scheduled_query(id),
            cond: Cond::Exists,
        }])
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => {
            Err(ApiError::not_found(format!("query {id} not found")))
        }
        Err(other) => Err(other.into()),
    }
}

pub fn pack_name(team_id: Option<u64>) -> String {
    team_id.map_or_else(|| "Global".to_string(), |id| format!("team-{id}"))
}

/// The packs for a host of `team_id`: global queries plus the team's, scheduled ones only.
pub fn packs_for(queries: &[ScheduledQuery], team_id: Option<u64>) -> Map<String, Value> {
    let mut packs: Map<String, Value> = Map::new();
    for query in queries
        .iter()
        .filter(|q| q.interval > 0 && (q.team_id.is_none() || q.team_id == team_id))
    {
        let mut entry = json!({ "query": query.query, "interval": query.interval });
        if !query.platform.is_empty() {
            entry["platform"] = json!(query.platform);
        }
        if !query.min_osquery_version.is_empty() {
            entry["version"] = json!(query.min_osquery_version);
        }
        if query.logging == "snapshot" {
            entry["snapshot"] = json!(true);
        }
        let pack = packs
            .entry(pack_name(query.team_id))
            .or_insert_with(|| json!({ "queries": {} }));
        if let Some(queries) = pack["queries"].as_object_mut() {
            queries.insert(query.name.clone(), entry);
        }
    }
    packs
}
