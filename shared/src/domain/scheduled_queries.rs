//! Saved queries with an interval: delivered to hosts as osquery packs, `Global` for global
//! queries and `team-<id>` for a team's, so results are named `pack/<pack>/<query>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{layout, records};
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

/// A change to a saved query (Fleet's `PATCH /api/v1/fleet/queries/{id}`): what is given
/// replaces what is stored. A query stays in its team.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryChange {
    pub name: Option<String>,
    pub query: Option<String>,
    pub interval: Option<u64>,
    pub platform: Option<String>,
    pub min_osquery_version: Option<String>,
    pub logging: Option<String>,
    /// Accepted and ignored, as on create.
    pub description: Option<String>,
    pub observer_can_run: Option<bool>,
}

/// Refuses a query that is not well formed: name, SQL, logging, platforms.
fn check(query: &ScheduledQuery) -> Result<(), ApiError> {
    let name = &query.name;
    if name.is_empty() || name.len() > 255 || name.contains('/') {
        return Err(ApiError::bad_request(
            "query name must be 1 to 255 characters without '/'",
        ));
    }
    if query.query.trim().is_empty() || query.query.len() > MAX_QUERY_LEN {
        return Err(ApiError::bad_request(format!(
            "query must be 1 to {MAX_QUERY_LEN} characters"
        )));
    }
    if !matches!(query.logging.as_str(), "snapshot" | "differential") {
        return Err(ApiError::bad_request(
            "logging must be \"snapshot\" or \"differential\"",
        ));
    }
    Ok(())
}

/// 409 when another query of the same team (or another global one) has the name.
fn check_unique(existing: &[ScheduledQuery], query: &ScheduledQuery) -> Result<(), ApiError> {
    if existing
        .iter()
        .any(|q| q.id != query.id && q.team_id == query.team_id && q.name == query.name)
    {
        return Err(ApiError::Conflict(format!(
            "a query named {:?} already exists",
            query.name
        )));
    }
    Ok(())
}

pub async fn create(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    new: NewScheduledQuery,
) -> Result<ScheduledQuery, ApiError> {
    let mut query = ScheduledQuery {
        id: 0,
        name: new.name.trim().to_string(),
        query: new.query,
        interval: new.interval,
        platform: new.platform,
        min_osquery_version: new.min_osquery_version,
        logging: new.logging,
        team_id: new.team_id,
        observer_can_run: new.observer_can_run,
        created_at: now,
    };
    check(&query)?;
    check_unique(&list(store).await?, &query)?;
    query.id = u64::try_from(store.increment(&layout::counter("query"), 1, None).await?)
        .map_err(|_| ApiError::Internal("query counter went negative".into()))?;
    store
        .write(vec![WriteOp::Put {
            item: Item::encode(layout::scheduled_query(query.id), &query)?,
            cond: Cond::NotExists,
        }])
        .await?;
    Ok(query)
}

/// Applies a change to query `id` (404 when there is none), under the item's version.
pub async fn update(
    store: &dyn StateStore,
    id: u64,
    change: QueryChange,
) -> Result<ScheduledQuery, ApiError> {
    let existing = list(store).await?;
    records::update(
        store,
        &layout::scheduled_query(id),
        None,
        |current: Option<ScheduledQuery>| {
            let mut query =
                current.ok_or_else(|| ApiError::not_found(format!("query {id} not found")))?;
            if let Some(name) = &change.name {
                query.name = name.trim().to_string();
            }
            if let Some(sql) = &change.query {
                query.query = sql.clone();
            }
            if let Some(interval) = change.interval {
                query.interval = interval;
            }
            if let Some(platform) = &change.platform {
                query.platform = platform.clone();
            }
            if let Some(version) = &change.min_osquery_version {
                query.min_osquery_version = version.clone();
            }
            if let Some(logging) = &change.logging {
                query.logging = logging.clone();
            }
            if let Some(observer_can_run) = change.observer_can_run {
                query.observer_can_run = observer_can_run;
            }
            check(&query)?;
            check_unique(&existing, &query)?;
            Ok(query)
        },
    )
    .await
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
