//! Admin changes to hosts: deleting one, and moving hosts between teams. Both tell every
//! instance to drop its cached node-key → host entries (the live epoch), so within the live
//! snapshot's 2 s a deleted host's keys stop working (osquery enrolls again, as with Fleet) and
//! a moved host gets its new team's config and live queries.

use serde_json::Value;

use super::hosts::Host;
use super::{host_index, layout, live};
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::{Cond, StoreError, WriteOp};

/// Hosts one transfer may move: each is a read-modify-write.
pub const MAX_TRANSFER: usize = 1000;

/// Deletes the host and every item that leads to it (identity, node keys, device token), in
/// one transaction, so a half-deleted host never exists.
pub async fn delete(app: &AppInner, id: u64) -> Result<(), ApiError> {
    let store = app.state();
    let Some(current) = store.get(&layout::host(id)).await? else {
        return Err(ApiError::not_found(format!("host {id} not found")));
    };
    let host: Host = current.decode()?;
    let device_token = store
        .get(&layout::host_device(host.id))
        .await?
        .and_then(|item| {
            item.data
                .get("token_hash")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let mut ops = vec![
        WriteOp::Delete {
            key: layout::host(host.id),
            cond: Cond::Version(current.version),
        },
        WriteOp::Delete {
            key: layout::host_vitals(host.id),
            cond: Cond::None,
        },
        WriteOp::Delete {
            key: layout::host_seen(host.id),
            cond: Cond::None,
        },
        WriteOp::Delete {
            key: layout::host_device(host.id),
            cond: Cond::None,
        },
        WriteOp::Delete {
            key: layout::host_identity(&host.identifier),
            cond: Cond::None,
        },
    ];
    let keys = [
        host.node_key_hash.as_deref().map(layout::node_key),
        host.orbit_node_key_hash
            .as_deref()
            .map(layout::orbit_node_key),
        device_token.as_deref().map(layout::device_token),
    ];
    ops.extend(keys.into_iter().flatten().map(|key| WriteOp::Delete {
        key,
        cond: Cond::None,
    }));
    let (index_ops, row, seen) = host_index::delete_parts(store, host.id).await?;
    // The SEEN delete is already among the host's own.
    ops.extend(index_ops);
    match store.write(ops).await {
        Ok(()) => {
            host_index::count_deleted(store, app.clock.unix(), row.as_ref(), seen.as_ref())
                .await?;
        }
        // Re-enrolled meanwhile (a new key): the admin sees a conflict and may retry.
        Err(StoreError::ConditionFailed) => {
            return Err(ApiError::Conflict(format!(
                "host {} changed meanwhile, retry",
                host.id
            )))
        }
        Err(other) => return Err(other.into()),
    }
    live::bump_epoch(app).await?;
    Ok(())
}

/// Moves each host to `team_id` (None: no team). The caller has checked the ids and the
/// principal's rights on every host's current team and on the destination.
pub async fn transfer(
    app: &AppInner,
    team_id: Option<u64>,
    host_ids: &[u64],
) -> Result<(), ApiError> {
    for id in host_ids {
        // Host item and listing row in one transaction; the counters follow.
        if !host_index::retarget(app.state(), app.clock.now(), *id, team_id, |_| true).await? {
            return Err(ApiError::not_found(format!("host {id} not found")));
        }
    }
    live::bump_epoch(app).await?;
    Ok(())
}
