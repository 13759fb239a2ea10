//! Fleet's refetch: an admin marks a host's vitals stale, and its next distributed read is
//! handed the detail queries. The request is a `LIVE/REFETCH#<host>` item, so every instance
//! learns of it from the live snapshot it already reads every 2 s: the agent path stays free
//! of store calls, and no node-key cache has to be dropped. The item lives as long as vitals
//! do (`VITALS_MAX_AGE_SECS`): a host that stays away longer is asked for vitals anyway when
//! it returns, so the set in the snapshot stays as small as the hosts refetched in the last
//! hour. Vitals arriving delete it.

use serde_json::json;

use super::detail_queries::VITALS_MAX_AGE_SECS;
use super::host_auth::{HostAuth, DETAIL_RETRY_SECS};
use super::layout;
use super::live::Snapshot;
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::{Cond, Item, WriteOp};
use std::sync::atomic::Ordering;

/// Marks the host's vitals stale (one write). Asking again before the host answers only
/// moves the request's time.
pub async fn request(app: &AppInner, host_id: u64) -> Result<(), ApiError> {
    let now = app.clock.unix();
    let item = Item::new(
        layout::live_refetch(host_id),
        json!({ "requested_at": now }),
    )
    .with_expiry(now + VITALS_MAX_AGE_SECS);
    app.state()
        .write(vec![WriteOp::Put {
            item,
            cond: Cond::None,
        }])
        .await?;
    app.live.expire();
    Ok(())
}

/// Whether this host has a refetch pending that its vitals do not yet answer.
pub fn pending(snapshot: &Snapshot, auth: &HostAuth) -> bool {
    snapshot
        .refetch
        .get(&auth.host_id)
        .is_some_and(|at| *at >= auth.vitals_at.load(Ordering::Relaxed))
}

/// Whether to hand the detail queries for a pending refetch now: once, then not again until
/// `DETAIL_RETRY_SECS` pass without an answer (as for stale vitals).
pub fn due(snapshot: &Snapshot, auth: &HostAuth, now: i64) -> bool {
    let asked = auth.detail_asked_at.load(Ordering::Relaxed);
    pending(snapshot, auth)
        && snapshot
            .refetch
            .get(&auth.host_id)
            .is_some_and(|at| asked < *at || now - asked >= DETAIL_RETRY_SECS)
}

/// Vitals arrived: the request is answered (one delete, only when one is pending).
pub async fn answered(app: &AppInner, snapshot: &Snapshot, host_id: u64) -> Result<(), ApiError> {
    if !snapshot.refetch.contains_key(&host_id) {
        return Ok(());
    }
    app.state()
        .write(vec![WriteOp::Delete {
            key: layout::live_refetch(host_id),
            cond: Cond::None,
        }])
        .await?;
    app.live.expire();
    Ok(())
}
