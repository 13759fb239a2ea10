//! Live-query campaigns: created by an admin, handed once to each targeted host through
//! distributed read, answered through distributed write.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

use super::hosts;
use super::layout;
use super::live::{LiveCampaign, Targets};
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::state::query_all;
use crate::ports::{Cond, Item, Query, StateStore, StoreError, WriteOp};

/// How long hosts are handed a campaign's query after it was created.
pub const CAMPAIGN_TTL_SECS: i64 = 3600;
/// How long a campaign and its results are kept (the data bucket's rule for
/// `campaign-results/` matches).
pub const RESULTS_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// Rows above this size go to the blob store: DynamoDB items stop at 400 KB.
const INLINE_ROWS_MAX_BYTES: usize = 300_000;
const MAX_QUERY_LEN: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: u64,
    pub query: String,
    pub targets: Targets,
    pub created_at: DateTime<Utc>,
    pub expires_at: i64,
    /// Existing hosts the targets matched when the campaign was created.
    pub targeted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignResult {
    pub host_id: u64,
    pub hostname: String,
    #[serde(default)]
    pub rows: Vec<Map<String, Value>>,
    pub error: Option<String>,
    pub stats: Option<Value>,
    pub received_at: DateTime<Utc>,
    /// Set when the rows were too large for the item and live in the blob store.
    #[serde(default)]
    pub rows_blob: Option<String>,
}

/// Which (campaign, host) pairs this instance knows were already handed out, so that the
/// steady state of a running campaign costs no store call either.
pub struct AskedCache(Cache<(u64, u64), ()>);

impl Default for AskedCache {
    fn default() -> Self {
        AskedCache(
            Cache::builder()
                .time_to_live(Duration::from_secs(CAMPAIGN_TTL_SECS as u64))
                .max_capacity(1_000_000)
                .build(),
        )
    }
}

async fn count_targeted(store: &dyn StateStore, targets: &Targets) -> Result<u64, StoreError> {
    const PAGE: usize = 500;
    let mut count = 0;
    for page in 0.. {
        let hosts = hosts::list(store, page, PAGE).await?;
        count += hosts
            .iter()
            .filter(|h| targets.includes(h.host.id, h.host.team_id))
            .count() as u64;
        if hosts.len() < PAGE {
            break;
        }
    }
    Ok(count)
}

pub async fn create(app: &AppInner, query: &str, targets: Targets) -> Result<Campaign, ApiError> {
    if query.trim().is_empty() || query.len() > MAX_QUERY_LEN {
        return Err(ApiError::bad_request(format!(
            "query must be 1 to {MAX_QUERY_LEN} characters"
        )));
    }
    if targets.is_empty() {
        return Err(ApiError::bad_request(
            "selected must name at least one host or team, or set all",
        ));
    }
    let store = app.ports.state.as_ref();
    let now = app.clock.now();
    let targeted = count_targeted(store, &targets).await?;
    let id = u64::try_from(
        store
            .increment(&layout::counter("campaign"), 1, None)
            .await?,
    )
    .map_err(|_| ApiError::Internal("campaign counter went negative".into()))?;
    let campaign = Campaign {
        id,
        query: query.to_string(),
        targets: targets.clone(),
        created_at: now,
        expires_at: now.timestamp() + CAMPAIGN_TTL_SECS,
        targeted,
    };
    let live = LiveCampaign {
        id,
        query: campaign.query.clone(),
        targets,
        expires_at: campaign.expires_at,
    };
    store
        .write(vec![
            WriteOp::Put {
                item: Item::encode(layout::campaign(id), &campaign)?
                    .with_expiry(now.timestamp() + RESULTS_RETENTION_SECS),
                cond: Cond::NotExists,
            },
            WriteOp::Put {
                item: Item::encode(layout::live_campaign(id), &live)?.with_expiry(live.expires_at),
                cond: Cond::NotExists,
            },
        ])
        .await?;
    app.live.expire();
    Ok(campaign)
}

pub async fn get(store: &dyn StateStore, id: u64) -> Result<Option<Campaign>, StoreError> {
    match store.get(&layout::campaign(id)).await? {
        Some(item) => item.decode().map(Some),
        None => Ok(None),
    }
}

pub async fn results(app: &AppInner, id: u64) -> Result<Vec<CampaignResult>, ApiError> {
    let items = query_all(
        app.ports.state.as_ref(),
        Query::partition(layout::campaign_partition(id)).prefix(layout::RESULT_PREFIX),
    )
    .await?;
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let mut result: CampaignResult = item.decode()?;
        if let Some(blob) = &result.rows_blob {
            let bytes = app.ports.blobs.get(blob).await?;
            result.rows = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::Internal(format!("result blob {blob}: {e}")))?;
        }
        out.push(result);
    }
    Ok(out)
}

/// Records that the host is being handed the campaign. False when it already was.
pub async fn mark_asked(
    app: &AppInner,
    campaign: &LiveCampaign,
    host_id: u64,
) -> Result<bool, ApiError> {
    if app.asked.0.contains_key(&(campaign.id, host_id)) {
        return Ok(false);
    }
    let item = Item::new(
        layout::campaign_asked(campaign.id, host_id),
        Value::Object(Map::new()),
    )
    .with_expiry(campaign.expires_at + RESULTS_RETENTION_SECS);
    let outcome = app
        .ports
        .state
        .write(vec![WriteOp::Put {
            item,
            cond: Cond::NotExists,
        }])
        .await;
    match outcome {
        Ok(()) => {
            app.asked.0.insert((campaign.id, host_id), ());
            Ok(true)
        }
        Err(StoreError::ConditionFailed) => {
            app.asked.0.insert((campaign.id, host_id), ());
            Ok(false)
        }
        Err(other) => Err(other.into()),
    }
}

/// Stores a host's answer. Ignored (false) unless the host was handed this campaign.
pub async fn record_result(
    app: &AppInner,
    campaign_id: u64,
    mut result: CampaignResult,
) -> Result<bool, ApiError> {
    let rows_json =
        serde_json::to_vec(&result.rows).map_err(|e| ApiError::Internal(e.to_string()))?;
    if rows_json.len() > INLINE_ROWS_MAX_BYTES {
        let store = app.ports.state.as_ref();
        // Do not write a blob for a campaign the host was not asked.
        if store
            .get(&layout::campaign_asked(campaign_id, result.host_id))
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let name = format!("campaign-results/{campaign_id}/{}.json", result.host_id);
        app.ports.blobs.put(&name, Bytes::from(rows_json)).await?;
        result.rows = Vec::new();
        result.rows_blob = Some(name);
    }
    let item = Item::encode(
        layout::campaign_result(campaign_id, result.host_id),
        &result,
    )?
    .with_expiry(result.received_at.timestamp() + RESULTS_RETENTION_SECS);
    let outcome = app
        .ports
        .state
        .write(vec![
            WriteOp::Check {
                key: layout::campaign_asked(campaign_id, result.host_id),
                cond: Cond::Exists,
            },
            WriteOp::Put {
                item,
                cond: Cond::None,
            },
        ])
        .await;
    match outcome {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(other) => Err(other.into()),
    }
}
