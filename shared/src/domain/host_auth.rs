//! Node-key authentication for osquery requests, with the per-instance cache that makes the
//! hot path (empty distributed reads) free of store calls. Entries live until the revocation
//! epoch moves (see `live`) or `AUTH_CACHE_TTL` passes.

use moka::sync::Cache;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::credentials::sha256_hex;
use super::detail_queries::VITALS_MAX_AGE_SECS;
use super::host_index;
use super::hosts::{self, platform_family, Host, HostState};
use crate::app::AppInner;
use crate::error::ApiError;

const AUTH_CACHE_TTL: Duration = Duration::from_secs(600);
const AUTH_CACHE_CAPACITY: u64 = 500_000;
/// "Last seen" is written at most this often per host and instance.
pub const SEEN_WRITE_INTERVAL_SECS: i64 = 300;
/// After handing out detail queries, wait this long for the answer before asking again.
pub const DETAIL_RETRY_SECS: i64 = 300;

/// What an authenticated agent request knows about its host.
#[derive(Debug)]
pub struct HostAuth {
    pub host_id: u64,
    pub team_id: Option<u64>,
    pub hostname: String,
    pub platform: String,
    pub platform_like: String,
    pub key_hash: String,
    /// Unix seconds of the last vitals ingestion; 0 when never.
    pub vitals_at: AtomicI64,
    pub seen_written_at: AtomicI64,
    pub detail_asked_at: AtomicI64,
}

impl HostAuth {
    fn from_state(state: &HostState, key_hash: String) -> Self {
        let host: &Host = &state.host;
        let vitals = state.vitals.as_ref();
        HostAuth {
            host_id: host.id,
            team_id: host.team_id,
            hostname: vitals
                .and_then(|v| v.hostname.clone())
                .unwrap_or_else(|| host.hostname.clone()),
            platform: host.platform.clone(),
            platform_like: host.platform_like.clone(),
            key_hash,
            vitals_at: AtomicI64::new(vitals.map_or(0, |v| v.updated_at.timestamp())),
            seen_written_at: AtomicI64::new(state.seen.map_or(0, |s| s.seen_time)),
            detail_asked_at: AtomicI64::new(0),
        }
    }

    pub fn platform_family(&self) -> &'static str {
        platform_family(&self.platform)
    }

    pub fn vitals_due(&self, now: i64) -> bool {
        now - self.vitals_at.load(Ordering::Relaxed) >= VITALS_MAX_AGE_SECS
    }
}

pub struct HostAuthCache {
    by_key_hash: Cache<String, Arc<HostAuth>>,
}

impl Default for HostAuthCache {
    fn default() -> Self {
        HostAuthCache {
            by_key_hash: Cache::builder()
                .time_to_live(AUTH_CACHE_TTL)
                .max_capacity(AUTH_CACHE_CAPACITY)
                .build(),
        }
    }
}

impl HostAuthCache {
    pub fn invalidate_all(&self) {
        self.by_key_hash.invalidate_all();
    }

    pub fn invalidate(&self, key_hash: &str) {
        self.by_key_hash.invalidate(key_hash);
    }
}

/// The host this node key belongs to, or `NodeInvalid` (HTTP 401, osquery re-enrolls).
pub async fn authenticate(
    app: &AppInner,
    node_key: Option<&str>,
) -> Result<Arc<HostAuth>, ApiError> {
    let node_key = node_key
        .filter(|key| !key.is_empty() && key.len() <= 256)
        .ok_or(ApiError::NodeInvalid("missing node key"))?;
    // Keeps the epoch current, which is what makes cached entries safe to use.
    app.live.current(app).await?;
    let key_hash = sha256_hex(node_key);
    if let Some(hit) = app.host_auth.by_key_hash.get(&key_hash) {
        return Ok(hit);
    }
    let state = app.ports.state.as_ref();
    let host_id = hosts::host_id_for_key(state, hosts::AgentKind::Osquery, &key_hash)
        .await?
        .ok_or(ApiError::NodeInvalid("invalid node key"))?;
    let host = hosts::load(state, host_id)
        .await?
        .ok_or(ApiError::NodeInvalid("invalid node key"))?;
    if host.host.node_key_hash.as_deref() != Some(key_hash.as_str()) {
        return Err(ApiError::NodeInvalid("invalid node key"));
    }
    let auth = Arc::new(HostAuth::from_state(&host, key_hash.clone()));
    app.host_auth.by_key_hash.insert(key_hash, auth.clone());
    Ok(auth)
}

/// Reloads the host behind a cached entry (after another instance may have changed it).
pub async fn reload(app: &AppInner, auth: &HostAuth) -> Result<Arc<HostAuth>, ApiError> {
    let state = hosts::load(app.ports.state.as_ref(), auth.host_id)
        .await?
        .ok_or(ApiError::NodeInvalid("host no longer exists"))?;
    let fresh = HostAuth::from_state(&state, auth.key_hash.clone());
    fresh.detail_asked_at.store(
        auth.detail_asked_at.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    let fresh = Arc::new(fresh);
    app.host_auth
        .by_key_hash
        .insert(auth.key_hash.clone(), fresh.clone());
    Ok(fresh)
}

/// Records that the host checked in, writing at most once per `SEEN_WRITE_INTERVAL_SECS`.
/// A failed write is logged and retried on a later request: it must not fail the agent's.
pub async fn touch_seen(app: &AppInner, auth: &HostAuth) {
    let now = app.clock.unix();
    let last = auth.seen_written_at.load(Ordering::Relaxed);
    if now - last < SEEN_WRITE_INTERVAL_SECS {
        return;
    }
    if auth
        .seen_written_at
        .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return; // another request of this host is writing it
    }
    // The SEEN write (under its version) and the bucket counters it moves (`host_index`).
    if let Err(err) = host_index::record_seen(app.ports.state.as_ref(), now, auth.host_id).await {
        auth.seen_written_at.store(last, Ordering::Relaxed);
        tracing::warn!(host_id = auth.host_id, %err, "could not record last seen");
    }
}

/// An agent request's authentication and "last seen" bookkeeping, in one call.
pub async fn check_in(app: &AppInner, node_key: Option<&str>) -> Result<Arc<HostAuth>, ApiError> {
    let auth = authenticate(app, node_key).await?;
    touch_seen(app, &auth).await;
    Ok(auth)
}
