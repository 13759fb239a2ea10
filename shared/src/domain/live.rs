//! The live snapshot: what every instance must know to answer distributed reads without a
//! store call per request. One Query of the `LIVE` partition, at most every
//! `LIVE_REFRESH_MS`, returns the active campaigns, the revocation epoch and the hosts with
//! a refetch pending. When the epoch
//! moved (a node key was replaced), the instance drops its node-key cache, so a revoked key
//! stops working within `LIVE_REFRESH_MS` everywhere.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::layout;
use crate::app::AppInner;
use crate::ports::state::query_all;
use crate::ports::{Query, StoreError};

/// The most a live query waits before hosts see it, and a revoked key keeps working.
pub const LIVE_REFRESH_MS: i64 = 2_000;

/// The hosts a campaign asks: those named, and those of the group (all hosts, or these
/// teams' hosts) on these platform families (`hosts::platform_family`; none: every platform).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(default)]
    pub hosts: Vec<u64>,
    #[serde(default)]
    pub teams: Vec<u64>,
    #[serde(default)]
    pub all: bool,
    /// Narrows the group, never the named hosts. Platforms rather than their hosts: a host
    /// that enrolls while the campaign runs is asked too, and a campaign over 70,000 Linux
    /// hosts stays one small item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
}

impl Targets {
    pub fn is_empty(&self) -> bool {
        !self.all && self.hosts.is_empty() && self.teams.is_empty()
    }

    /// Whether a host of this team and platform family is targeted.
    pub fn includes(&self, host_id: u64, team_id: Option<u64>, family: &str) -> bool {
        self.hosts.contains(&host_id) || self.in_group(team_id, family)
    }

    /// Whether a host of this team and platform family is in the group (not by name).
    pub fn in_group(&self, team_id: Option<u64>, family: &str) -> bool {
        let scoped = self.all || team_id.is_some_and(|team| self.teams.contains(&team));
        scoped && (self.platforms.is_empty() || self.platforms.iter().any(|p| p == family))
    }
}

/// A campaign as hosts need to see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveCampaign {
    pub id: u64,
    pub query: String,
    pub targets: Targets,
    pub expires_at: i64,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub fetched_at_ms: Option<i64>,
    pub epoch: i64,
    pub campaigns: Vec<LiveCampaign>,
    /// Hosts an admin asked to refetch, with when (unix seconds): see `refetch`.
    pub refetch: HashMap<u64, i64>,
}

#[derive(Default)]
pub struct LiveState {
    snapshot: RwLock<Arc<Snapshot>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl LiveState {
    fn cached(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn fresh(snapshot: &Snapshot, now_ms: i64) -> bool {
        snapshot
            .fetched_at_ms
            .is_some_and(|at| now_ms - at < LIVE_REFRESH_MS && now_ms >= at)
    }

    /// The current snapshot, refreshed first when older than `LIVE_REFRESH_MS`.
    pub async fn current(&self, app: &AppInner) -> Result<Arc<Snapshot>, StoreError> {
        let now_ms = app.clock.now().timestamp_millis();
        let snapshot = self.cached();
        if Self::fresh(&snapshot, now_ms) {
            return Ok(snapshot);
        }
        // One refresh per instance at a time; the others wait and reuse its result.
        let _guard = self.refreshing.lock().await;
        let snapshot = self.cached();
        if Self::fresh(&snapshot, now_ms) {
            return Ok(snapshot);
        }
        let mut next = Snapshot {
            fetched_at_ms: Some(now_ms),
            ..Snapshot::default()
        };
        let items = query_all(
            app.ports.state.as_ref(),
            Query::partition(layout::LIVE_PARTITION),
        )
        .await?;
        for item in &items {
            if item.key == layout::live_epoch() {
                next.epoch = item.data.get("n").and_then(|n| n.as_i64()).unwrap_or(0);
            } else if item.key.sk.starts_with("CAMPAIGN#") {
                next.campaigns.push(item.decode()?);
            } else if let Some(host) = item.key.sk.strip_prefix(layout::LIVE_REFETCH_PREFIX) {
                let at = item.data.get("requested_at").and_then(|n| n.as_i64());
                if let (Ok(host), Some(at)) = (host.parse(), at) {
                    next.refetch.insert(host, at);
                }
            }
        }
        if snapshot.fetched_at_ms.is_some() && next.epoch != snapshot.epoch {
            app.host_auth.invalidate_all();
        }
        let next = Arc::new(next);
        match self.snapshot.write() {
            Ok(mut guard) => *guard = next.clone(),
            Err(poisoned) => *poisoned.into_inner() = next.clone(),
        }
        Ok(next)
    }

    /// Makes the next `current` call re-read the store (after this instance changed it).
    pub fn expire(&self) {
        let stale = Arc::new(Snapshot::default());
        match self.snapshot.write() {
            Ok(mut guard) => *guard = stale,
            Err(poisoned) => *poisoned.into_inner() = stale,
        }
    }
}

/// Tells every instance that node keys were revoked.
pub async fn bump_epoch(app: &AppInner) -> Result<(), StoreError> {
    app.ports
        .state
        .increment(&layout::live_epoch(), 1, None)
        .await?;
    Ok(())
}
