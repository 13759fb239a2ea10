//! `POST /create`: the same unexpired package for the same arguments, a new one otherwise (or
//! when the old one failed and `retry` is set), queued for the worker.

use bytes::Bytes;

use super::dedupe;
use super::request::CreateRequest;
use super::status::{effective, Effective};
use super::{deduped_package, load, Package, Progress, Stage};
use crate::app::App;
use crate::domain::layout;
use crate::error::{ApiError, ApiResult};
use crate::jobs::Job;
use crate::ports::{Cond, Item, StoreError, WriteOp};

/// Answers the package id.
pub async fn create(app: &App, request: CreateRequest) -> ApiResult<String> {
    let now = app.clock.unix();
    let store = app.state();
    let hash = dedupe::hash(app, &request.args).await?;
    let mut replaced = None;
    if let Some(item) = store.get(&layout::package_dedupe(&hash)).await? {
        if let Some((package, _)) = load(store, deduped_package(&item)).await? {
            let retried = request.retry && matches!(effective(&package, now), Effective::Failed(_));
            let reusable = !package.expired(now) && !retried;
            if reusable {
                return Ok(package.id);
            }
        }
        replaced = Some(item.version);
    }

    let id = uuid::Uuid::new_v4().to_string();
    let kind = request.args.kind.clone();
    // The arguments first: a queued record always finds them.
    let arguments =
        serde_json::to_vec(&request.args).map_err(|e| ApiError::Internal(e.to_string()))?;
    let request_blob = Package::request_blob(&id);
    app.ports
        .blobs
        .put(&request_blob, Bytes::from(arguments))
        .await?;
    let package = Package {
        id: id.clone(),
        kind,
        progress: Progress::InProgress {
            stage: Stage::Queued,
        },
        created_at: now,
        updated_at: now,
        expires_at: now + i64::from(app.settings.packager.expiry_minutes) * 60,
        dedupe: hash.clone(),
        swept: false,
        notarization: None,
    };
    let dedupe_item = Item::new(
        layout::package_dedupe(&hash),
        serde_json::json!({ "package_id": id }),
    )
    .with_expiry(package.expires_at);
    let written = store
        .write(vec![
            WriteOp::Put {
                item: package.item()?,
                cond: Cond::NotExists,
            },
            WriteOp::Put {
                item: dedupe_item,
                cond: replaced.map_or(Cond::NotExists, Cond::Version),
            },
        ])
        .await;
    match written {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            // An identical create won the race: its package is the answer.
            let _ = app.ports.blobs.delete(&request_blob).await;
            return match store.get(&layout::package_dedupe(&hash)).await? {
                Some(item) => Ok(deduped_package(&item).to_string()),
                None => Err(ApiError::Unavailable("concurrent create".into())),
            };
        }
        Err(other) => {
            let _ = app.ports.blobs.delete(&request_blob).await;
            return Err(other.into());
        }
    }

    let job = Job::BuildPackage {
        package: id.clone(),
    };
    if let Err(err) = app.ports.packager_queue.send(&job.to_message()?).await {
        // Nothing will build it: take it back so that the client's retry starts afresh.
        let _ = store
            .write(vec![
                WriteOp::Delete {
                    key: layout::package(&id),
                    cond: Cond::None,
                },
                WriteOp::Delete {
                    key: layout::package_dedupe(&hash),
                    cond: Cond::None,
                },
            ])
            .await;
        let _ = app.ports.blobs.delete(&request_blob).await;
        return Err(err.into());
    }
    tracing::info!(package = %id, kind = %package.kind, "package queued");
    Ok(id)
}
