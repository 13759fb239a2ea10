//! Fleet's `POST /api/v1/fleet/hosts/{id}/query`: a one-host campaign, and a bounded wait for
//! that host's answer. The wait polls the result item (one GetItem every `POLL_INTERVAL`), so
//! it works the same whichever instance serves the host's distributed write; it is bounded by
//! `Settings::host_query_wait`, which the admin function's timeout must exceed.

use serde_json::{Map, Value};
use std::time::Duration;

use super::campaigns;
use super::hosts::HostState;
use super::live::Targets;
use crate::app::AppInner;
use crate::error::ApiError;

/// Between two reads of the result: at most 4 reads a second per waiting request.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Fleet's message when the host did not answer in time.
pub const TIMEOUT_ERROR: &str = "timeout waiting for results";

#[derive(Debug, Clone, PartialEq)]
pub struct HostQueryAnswer {
    pub campaign_id: u64,
    pub host_id: u64,
    pub query: String,
    /// Fleet's rule: seen within its distributed interval plus a minute.
    pub online: bool,
    /// osquery's failure, or `TIMEOUT_ERROR`.
    pub error: Option<String>,
    pub rows: Vec<Map<String, Value>>,
}

/// Whether the host counts as online (Fleet's rule, as the host listing applies it).
pub fn online(host: &HostState, now: i64) -> bool {
    let seen = host
        .seen
        .map(|s| s.seen_time)
        .unwrap_or(host.host.last_enrolled_at.timestamp());
    let interval = host
        .vitals
        .as_ref()
        .and_then(|v| v.distributed_interval)
        .unwrap_or(10) as i64;
    now - seen <= interval + 60
}

/// Runs `sql` on `host` and waits up to `app.settings.host_query_wait` for its answer. The
/// campaign is stopped either way, so a host that checks in later is not handed it; a late
/// answer from a host already handed it is still stored with the campaign.
pub async fn run(
    app: &AppInner,
    host: &HostState,
    sql: &str,
    created_by: Option<u64>,
) -> Result<HostQueryAnswer, ApiError> {
    let host_id = host.host.id;
    let targets = Targets {
        hosts: vec![host_id],
        ..Targets::default()
    };
    let campaign = campaigns::create(app, sql, targets, created_by).await?;
    let online = online(host, app.clock.unix());
    let deadline = tokio::time::Instant::now() + app.settings.host_query_wait;
    let outcome = loop {
        if let Some(result) = campaigns::host_result(app, campaign.id, host_id).await? {
            break Some(result);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break None;
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    };
    if let Err(err) = campaigns::stop(app, campaign.id).await {
        // It expires within the hour anyway.
        tracing::warn!(campaign = campaign.id, %err, "one-host campaign not stopped");
    }
    let (error, rows) = match outcome {
        Some(result) => (result.error, result.rows),
        None => (Some(TIMEOUT_ERROR.to_string()), Vec::new()),
    };
    Ok(HostQueryAnswer {
        campaign_id: campaign.id,
        host_id,
        query: campaign.query,
        online,
        error,
        rows,
    })
}
