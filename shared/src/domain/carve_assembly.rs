//! Turns a carve's stored blocks into its one final object, a multipart part at a time.
//!
//! Each job uploads one part (read from its blocks, at most ~9 MiB in memory) and records the
//! part's ETag; whichever job finds every part recorded completes the upload, marks the carve
//! complete and deletes the blocks. Every step is safe to repeat, so a redelivered job (SQS
//! delivers at least once) does no harm, and a job that keeps failing ends in the DLQ.

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::carves::{self, Carve};
use super::layout;
use crate::app::AppInner;
use crate::ports::state::query_all;
use crate::ports::{BlobError, CompletedPart, Cond, Item, Query, StoreError, WriteOp};

/// Blocks read at once while building a part (each a small object for osquery's 8 KiB blocks).
const BLOCK_READS_IN_FLIGHT: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("carve {0}: {1}")]
    Inconsistent(u64, String),
    #[error(transparent)]
    Api(#[from] crate::error::ApiError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PartRecord {
    etag: String,
    size: u64,
}

/// What a part job did, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartOutcome {
    /// The carve is gone or already assembled: nothing to do.
    Nothing,
    Uploaded,
    /// The part was uploaded by an earlier delivery of the same job.
    AlreadyUploaded,
}

/// Uploads part `part` (0-based) of carve `id`, then completes the carve if every part is in.
pub async fn assemble_part(
    app: &AppInner,
    id: u64,
    part: u32,
) -> Result<PartOutcome, AssemblyError> {
    let store = app.ports.state.as_ref();
    let Some(carve) = carves::get(store, id).await? else {
        return Ok(PartOutcome::Nothing);
    };
    if carve.completed_at.is_some() || part >= carve.part_count() {
        return Ok(PartOutcome::Nothing);
    }
    let outcome = if store.get(&layout::carve_part(id, part)).await?.is_some() {
        PartOutcome::AlreadyUploaded
    } else {
        let body = read_part(app, &carve, part).await?;
        let size = body.len() as u64;
        let uploaded = app
            .ports
            .blobs
            .upload_part(&carve.data_blob(), &carve.upload_id, part + 1, body)
            .await;
        let etag = match uploaded {
            Ok(etag) => etag,
            // Completed by another job since we read the record.
            Err(BlobError::UploadNotFound) if completed(app, id).await? => {
                return Ok(PartOutcome::Nothing)
            }
            Err(other) => return Err(other.into()),
        };
        let item = Item::encode(layout::carve_part(id, part), &PartRecord { etag, size })?
            .with_expiry(carve.expires_at + carves::EXPIRED_RECORD_GRACE_SECS);
        store
            .write(vec![WriteOp::Put {
                item,
                cond: Cond::None,
            }])
            .await?;
        PartOutcome::Uploaded
    };
    complete_if_ready(app, id).await?;
    Ok(outcome)
}

async fn completed(app: &AppInner, id: u64) -> Result<bool, StoreError> {
    Ok(carves::get(app.ports.state.as_ref(), id)
        .await?
        .is_some_and(|carve| carve.completed_at.is_some()))
}

/// The part's blocks, concatenated in order.
async fn read_part(app: &AppInner, carve: &Carve, part: u32) -> Result<Bytes, AssemblyError> {
    let blocks = carve.part_blocks(part);
    let capacity: u64 = blocks.clone().map(|b| carve.expected_block_len(b)).sum();
    let blobs = app.ports.blobs.clone();
    let mut reads = futures_util::stream::iter(blocks.map(|block| {
        let blobs = blobs.clone();
        let name = carve.block_blob(block);
        async move { blobs.get(&name).await.map(|bytes| (block, bytes)) }
    }))
    .buffered(BLOCK_READS_IN_FLIGHT);
    let mut body = BytesMut::with_capacity(capacity as usize);
    while let Some((block, bytes)) = reads.try_next().await? {
        if bytes.len() as u64 != carve.expected_block_len(block) {
            return Err(AssemblyError::Inconsistent(
                carve.id,
                format!("block {block} is {} bytes", bytes.len()),
            ));
        }
        body.extend_from_slice(&bytes);
    }
    Ok(body.freeze())
}

/// Completes the multipart upload once every block is stored and every part uploaded.
async fn complete_if_ready(app: &AppInner, id: u64) -> Result<(), AssemblyError> {
    let store = app.ports.state.as_ref();
    let Some(carve) = carves::get(store, id).await? else {
        return Ok(());
    };
    if carve.completed_at.is_some() || !carve.received_all() {
        return Ok(());
    }
    let items = query_all(
        store,
        Query::partition(layout::carve_partition(id)).prefix(layout::CARVE_PART_PREFIX),
    )
    .await?;
    if items.len() != carve.part_count() as usize {
        return Ok(()); // another part's job completes it
    }
    let mut parts = Vec::with_capacity(items.len());
    for (number, item) in (1..).zip(&items) {
        let record: PartRecord = item.decode()?;
        parts.push(CompletedPart {
            number,
            etag: record.etag,
        });
    }
    let data = carve.data_blob();
    match app
        .ports
        .blobs
        .complete_multipart(&data, &carve.upload_id, &parts)
        .await
    {
        // Gone: completed by a concurrent job, which the size check below confirms.
        Ok(()) | Err(BlobError::UploadNotFound) => {}
        Err(other) => return Err(other.into()),
    }
    let size = app.ports.blobs.size(&data).await?;
    if size != carve.carve_size {
        return Err(AssemblyError::Inconsistent(
            id,
            format!("assembled {size} bytes of {}", carve.carve_size),
        ));
    }
    let now = app.clock.now();
    carves::update(store, id, |carve| {
        carve.completed_at.get_or_insert(now);
    })
    .await?;
    let blocks: Vec<String> = (0..carve.block_count)
        .map(|b| carve.block_blob(b))
        .collect();
    app.ports.blobs.delete_many(&blocks).await?;
    tracing::info!(carve = id, size, parts = parts.len(), "carve assembled");
    Ok(())
}

/// Deletes the data of carves past their expiry. On AWS the bucket's lifecycle rule does it;
/// the local server runs this instead. Answers how many carves it swept.
pub async fn sweep_expired(app: &AppInner) -> Result<usize, AssemblyError> {
    let store = app.ports.state.as_ref();
    let now = app.clock.unix();
    let mut swept = 0;
    for carve in carves::list(store).await? {
        if carve.swept || !carve.expired(now) {
            continue;
        }
        if carve.completed_at.is_none() {
            app.ports
                .blobs
                .abort_multipart(&carve.data_blob(), &carve.upload_id)
                .await?;
        }
        let mut names: Vec<String> = (0..carve.block_count)
            .map(|b| carve.block_blob(b))
            .collect();
        names.push(carve.data_blob());
        app.ports.blobs.delete_many(&names).await?;
        carves::update(store, carve.id, |carve| carve.swept = true).await?;
        swept += 1;
    }
    Ok(swept)
}
