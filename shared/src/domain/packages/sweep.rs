//! Deletes what expired packages left: the installer and the arguments (which hold the enroll
//! secret) from the blob store, and the dedupe entry. Runs every minute (a scheduled job on
//! AWS, the local worker's timer); the bucket's lifecycle rule on `packages/` is the backstop.

use super::{deduped_package, load, save, Package};
use crate::app::AppInner;
use crate::domain::layout::{self, PACKAGES_BY_EXPIRY};
use crate::error::ApiError;
use crate::ports::state::query_all;
use crate::ports::{Cond, Query, StoreError, WriteOp};

/// Answers how many packages were swept.
pub async fn sweep_expired(app: &AppInner) -> Result<usize, ApiError> {
    let now = app.clock.unix();
    let store = app.ports.state.as_ref();
    let listed = query_all(store, Query::gsi1(PACKAGES_BY_EXPIRY)).await?;
    let mut swept = 0;
    for entry in listed {
        // Sort keys are `<expires_at>#<id>`, zero-padded: in expiry order.
        let Some(gsi1) = &entry.gsi1 else { continue };
        let Some((expires_at, id)) = gsi1.sk.split_once('#') else {
            continue;
        };
        if expires_at.parse::<i64>().map_or(true, |at| at > now) {
            break;
        }
        let Some((mut package, version)) = load(store, id).await? else {
            continue;
        };
        if !package.expired(now) || package.swept {
            continue;
        }
        delete_blobs(app, &package).await?;
        package.swept = true;
        match save(store, &package, version).await {
            Ok(()) => {}
            // Changed meanwhile (a worker finishing): the next sweep sees it again.
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
        // Only this package's entry: a retry may have pointed it at a newer package.
        let key = layout::package_dedupe(&package.dedupe);
        if let Some(item) = store.get(&key).await? {
            if deduped_package(&item) == package.id {
                let _ = store
                    .write(vec![WriteOp::Delete {
                        key,
                        cond: Cond::Version(item.version),
                    }])
                    .await;
            }
        }
        tracing::info!(package = %package.id, "expired package deleted");
        swept += 1;
    }
    Ok(swept)
}

async fn delete_blobs(app: &AppInner, package: &Package) -> Result<(), ApiError> {
    let names = app
        .ports
        .blobs
        .list(&Package::blob_prefix(&package.id))
        .await?;
    if !names.is_empty() {
        app.ports.blobs.delete_many(&names).await?;
    }
    Ok(())
}
