//! Admin changes to hosts: deleting one, and moving hosts between teams. Both tell every
//! instance to drop its cached node-key → host entries (the live epoch), so within the live
//! snapshot's 2 s a deleted host's keys stop working (osquery enrolls again, as with Fleet) and
//! a moved host gets its new team's config and live queries.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::host_listing::{self, HostFilter, HostQuery, OrderKey};

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
            host_index::count_deleted(store, app.clock.unix(), row.as_ref(), seen.as_ref()).await?;
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

/// What a bulk operation does to each host its filter matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BulkAction {
    Delete,
    Transfer { team_id: Option<u64> },
}

/// Hosts one bulk step handles (each is a few reads and a transaction): a step stays well
/// inside a Lambda's 30 s, and the next step is another job.
pub const BULK_BATCH: usize = 200;

/// One step of a bulk operation by filter: applies `action` to the next (at most
/// `BULK_BATCH`) hosts the filter matches after `cursor`, in enroll order, and answers how many
/// it changed and where the next step starts (None: done). The filter's teams were already
/// limited to those the requester may change.
pub async fn bulk_step(
    app: &AppInner,
    action: &BulkAction,
    filter: &HostFilter,
    cursor: Option<String>,
) -> Result<(usize, Option<String>), ApiError> {
    let rules = host_listing::status_rules(app).await?;
    let query = HostQuery {
        filter: filter.clone(),
        order: OrderKey::Id,
        descending: false,
        per_page: BULK_BATCH,
        cursor,
    };
    let page = host_listing::list_page(app.state(), app.clock.unix(), &rules, &query).await?;
    let mut changed = 0;
    for host in &page.rows {
        let id = host.row.id;
        match action {
            BulkAction::Delete => match delete(app, id).await {
                Ok(()) => changed += 1,
                // Gone meanwhile, or changed meanwhile (its next enroll is a new host anyway).
                Err(ApiError::NotFound(_)) | Err(ApiError::Conflict(_)) => {}
                Err(other) => return Err(other),
            },
            BulkAction::Transfer { team_id } => {
                let scopes = &filter.scopes;
                if host_index::retarget(app.state(), app.clock.now(), id, *team_id, |from| {
                    scopes.includes(from)
                })
                .await?
                {
                    changed += 1;
                }
            }
        }
    }
    if matches!(action, BulkAction::Transfer { .. }) && changed > 0 {
        live::bump_epoch(app).await?;
    }
    Ok((changed, page.next_cursor))
}
