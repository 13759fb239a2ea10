//! File carving: osquery's carve sessions and their blocks (wire-contracts.md).
//!
//! Blocks arrive strictly in order, each stored as its own blob as it comes. Every run of
//! blocks that makes up one multipart part (at least 5 MiB, S3's minimum) becomes a job on
//! the queue; `carve_assembly` turns each into a part of the carve's one final object. So no
//! instance ever holds more than one block (request) or one part (job) in memory, whatever
//! the size of the carve.

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::credentials::sha256_hex;
use super::host_auth::HostAuth;
use super::layout;
use crate::app::AppInner;
use crate::error::ApiError;
use crate::jobs::Job;
use crate::ports::blobs::MIN_PART_SIZE;
use crate::ports::state::gsi1_records;
use crate::ports::{Cond, Item, StateStore, StoreError, WriteOp};

/// Fleet's limits.
pub const MAX_CARVE_SIZE: u64 = 8 * 1024 * 1024 * 1024;
/// Fleet accepts blocks of up to 256 MiB, but a block must fit one request, and Lambda takes
/// at most 6 MB: 4 MiB is ~5.6 MB as base64 in JSON. Refused at begin, not block by block.
pub const MAX_BLOCK_SIZE: u64 = 4 * 1024 * 1024;
/// Smaller blocks would make a part job read thousands of objects (osquery's default is 8 KiB).
pub const MIN_BLOCK_SIZE: u64 = 1024;
/// An expired carve's record stays listed (as `expired`) this long after its data is gone.
pub const EXPIRED_RECORD_GRACE_SECS: i64 = 30 * 24 * 3600;
const MAX_ID_LEN: usize = 256;
/// osquery names a live query's carve after the distributed query that asked for it.
const CAMPAIGN_REQUEST_PREFIX: &str = "fleet_distributed_query_";
const ATTEMPTS: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Carve {
    pub id: u64,
    pub host_id: u64,
    pub name: String,
    pub block_count: u64,
    pub block_size: u64,
    pub carve_size: u64,
    /// osquery's GUID for the carve.
    pub carve_id: String,
    pub request_id: String,
    /// SHA-256 of the session id: the session id authorises block uploads.
    pub session_hash: String,
    pub created_at: DateTime<Utc>,
    /// Unix seconds when the carve's data expires (the bucket's lifecycle rule matches).
    pub expires_at: i64,
    /// The highest block stored so far; -1 before the first.
    pub max_block: i64,
    /// SHA-256 of the highest block, so that a resent block can be recognised.
    pub last_block_sha256: Option<String>,
    pub upload_id: String,
    /// The last block rejected, and why.
    pub error: Option<String>,
    /// When the final object was assembled; the carve can be downloaded from then on.
    pub completed_at: Option<DateTime<Utc>>,
    /// The live query (campaign) that asked for this carve.
    pub campaign_id: Option<u64>,
    /// Set once the local sweeper deleted the expired data (S3 lifecycle does it on AWS).
    #[serde(default)]
    pub swept: bool,
}

impl Carve {
    pub fn expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    pub fn received_all(&self) -> bool {
        self.max_block + 1 == self.block_count as i64
    }

    /// How many blocks one multipart part holds: enough to reach S3's minimum part size.
    pub fn blocks_per_part(&self) -> u64 {
        MIN_PART_SIZE.div_ceil(self.block_size).max(1)
    }

    pub fn part_count(&self) -> u32 {
        // At most 8 GiB / 5 MiB = 1,639 parts, well under S3's 10,000.
        self.block_count.div_ceil(self.blocks_per_part()) as u32
    }

    /// The blocks of part `part` (0-based), as a range of block ids.
    pub fn part_blocks(&self, part: u32) -> std::ops::Range<u64> {
        let per_part = self.blocks_per_part();
        let first = u64::from(part) * per_part;
        first..(first + per_part).min(self.block_count)
    }

    /// The size a block must have: `block_size`, except the last, which holds the rest.
    pub fn expected_block_len(&self, block_id: u64) -> u64 {
        if block_id + 1 == self.block_count {
            self.carve_size - (self.block_count - 1) * self.block_size
        } else {
            self.block_size
        }
    }

    pub fn block_offset(&self, block_id: u64) -> u64 {
        block_id * self.block_size
    }

    pub fn block_blob(&self, block_id: u64) -> String {
        block_blob(self.id, block_id)
    }

    pub fn data_blob(&self) -> String {
        data_blob(self.id)
    }

    /// Fleet's carve shape, plus `completed_at` and `campaign_id`.
    pub fn to_json(&self, now: i64) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "host_id": self.host_id,
            "block_count": self.block_count,
            "block_size": self.block_size,
            "carve_size": self.carve_size,
            "carve_id": self.carve_id,
            "request_id": self.request_id,
            "created_at": self.created_at.to_rfc3339(),
            "expired": self.expired(now),
            "max_block": self.max_block,
            "error": self.error,
            "completed_at": self.completed_at.map(|t| t.to_rfc3339()),
            "campaign_id": self.campaign_id,
        })
    }
}

pub fn block_blob(carve_id: u64, block_id: u64) -> String {
    format!("carves/{carve_id}/blocks/{block_id:010}")
}

pub fn data_blob(carve_id: u64) -> String {
    format!("carves/{carve_id}/data")
}

/// `carve/begin` as osquery sends it.
#[derive(Debug, Deserialize)]
pub struct BeginRequest {
    pub block_count: u64,
    pub block_size: u64,
    pub carve_size: u64,
    #[serde(default)]
    pub carve_id: String,
    #[serde(default)]
    pub request_id: String,
}

/// `carve/block` as osquery sends it.
#[derive(Debug, Deserialize)]
pub struct BlockRequest {
    pub block_id: i64,
    pub session_id: String,
    #[serde(default)]
    pub request_id: String,
    pub data: String,
}

fn check_begin(request: &BeginRequest) -> Result<(), ApiError> {
    let BeginRequest {
        block_count,
        block_size,
        carve_size,
        ..
    } = *request;
    let refuse = |why: String| Err(ApiError::bad_request(why));
    if carve_size == 0 {
        return refuse("carve_size must be greater than 0".into());
    }
    if carve_size > MAX_CARVE_SIZE {
        return refuse(format!(
            "carve_size exceeds the maximum of {MAX_CARVE_SIZE} bytes"
        ));
    }
    if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) {
        return refuse(format!(
            "block_size must be {MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE} bytes \
             (set --carver_block_size, e.g. 2000000)"
        ));
    }
    // (block_count - 1) * block_size < carve_size <= block_count * block_size
    let fits = block_count > 0
        && (block_count - 1).saturating_mul(block_size) < carve_size
        && carve_size <= block_count.saturating_mul(block_size);
    if !fits {
        return refuse(format!(
            "carve_size {carve_size} does not match {block_count} blocks of {block_size} bytes"
        ));
    }
    for (field, value) in [
        ("carve_id", &request.carve_id),
        ("request_id", &request.request_id),
    ] {
        if value.len() > MAX_ID_LEN {
            return refuse(format!("{field} is longer than {MAX_ID_LEN} characters"));
        }
    }
    Ok(())
}

fn new_session_id(carve_id: u64) -> String {
    let mut secret = [0u8; 16];
    rand::rng().fill_bytes(&mut secret);
    format!("{carve_id}-{}", hex::encode(secret))
}

/// The carve a session id names (its prefix), if the id has the right shape.
fn carve_id_of_session(session_id: &str) -> Option<u64> {
    let (id, secret) = session_id.split_once('-')?;
    (secret.len() == 32).then_some(())?;
    id.parse().ok()
}

/// Starts a carve for the authenticated host; answers the session id.
pub async fn begin(
    app: &AppInner,
    host: &HostAuth,
    request: BeginRequest,
) -> Result<(Carve, String), ApiError> {
    check_begin(&request)?;
    let store = app.ports.state.as_ref();
    let now = app.clock.now();
    let id = u64::try_from(store.increment(&layout::counter("carve"), 1, None).await?)
        .map_err(|_| ApiError::Internal("carve counter went negative".into()))?;
    let session_id = new_session_id(id);
    let upload_id = app.ports.blobs.create_multipart(&data_blob(id)).await?;
    let expires_at = now.timestamp() + i64::from(app.settings.carve_expiry_days) * 24 * 3600;
    let carve = Carve {
        id,
        host_id: host.host_id,
        name: format!(
            "{}-{}-{}",
            host.hostname,
            now.format("%Y-%m-%dT%H:%M:%SZ"),
            request.request_id
        ),
        block_count: request.block_count,
        block_size: request.block_size,
        carve_size: request.carve_size,
        campaign_id: request
            .request_id
            .strip_prefix(CAMPAIGN_REQUEST_PREFIX)
            .and_then(|id| id.parse().ok()),
        carve_id: request.carve_id,
        request_id: request.request_id,
        session_hash: sha256_hex(&session_id),
        created_at: now,
        expires_at,
        max_block: -1,
        last_block_sha256: None,
        upload_id,
        error: None,
        completed_at: None,
        swept: false,
    };
    let item = Item::encode(layout::carve(id), &carve)?
        .with_gsi1(layout::carves_index(id))
        .with_expiry(expires_at + EXPIRED_RECORD_GRACE_SECS);
    store
        .write(vec![WriteOp::Put {
            item,
            cond: Cond::NotExists,
        }])
        .await?;
    tracing::info!(
        carve = id,
        host_id = host.host_id,
        size = carve.carve_size,
        blocks = carve.block_count,
        "carve started"
    );
    Ok((carve, session_id))
}

/// The carve with its item version.
pub async fn load(store: &dyn StateStore, id: u64) -> Result<Option<(Carve, u64)>, StoreError> {
    match store.get(&layout::carve(id)).await? {
        Some(item) => Ok(Some((item.decode()?, item.version))),
        None => Ok(None),
    }
}

pub async fn get(store: &dyn StateStore, id: u64) -> Result<Option<Carve>, StoreError> {
    Ok(load(store, id).await?.map(|(carve, _)| carve))
}

/// Every carve whose record is still kept, oldest first.
pub async fn list(store: &dyn StateStore) -> Result<Vec<Carve>, StoreError> {
    gsi1_records(store, "CARVES").await
}

/// Stores `carve` if its item is still at `version`.
async fn store_if_unchanged(
    store: &dyn StateStore,
    carve: &Carve,
    version: u64,
) -> Result<bool, StoreError> {
    let item = Item::encode(layout::carve(carve.id), carve)?
        .with_gsi1(layout::carves_index(carve.id))
        .with_expiry(carve.expires_at + EXPIRED_RECORD_GRACE_SECS);
    match store
        .write(vec![WriteOp::Put {
            item,
            cond: Cond::Version(version),
        }])
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Applies `change` to the carve, retrying when another request wrote it in between.
pub async fn update(
    store: &dyn StateStore,
    id: u64,
    mut change: impl FnMut(&mut Carve),
) -> Result<Option<Carve>, ApiError> {
    for _ in 0..ATTEMPTS {
        let Some((mut carve, version)) = load(store, id).await? else {
            return Ok(None);
        };
        change(&mut carve);
        if store_if_unchanged(store, &carve, version).await? {
            return Ok(Some(carve));
        }
    }
    Err(ApiError::Unavailable(format!(
        "carve {id} kept changing, retry"
    )))
}

/// Records why a block was refused on the carve (best effort: the refusal stands anyway).
async fn record_refusal(app: &AppInner, carve_id: u64, why: &str) {
    let recorded = update(app.ports.state.as_ref(), carve_id, |carve| {
        carve.error = Some(why.to_string());
    })
    .await;
    if let Err(err) = recorded {
        tracing::warn!(carve = carve_id, %err, "could not record a refused block");
    }
}

/// What to do with a block, given the carve as stored.
enum Verdict {
    Store,
    /// The block stored last, sent again (its answer was lost): success, nothing to write.
    AlreadyStored,
    Refuse(String),
}

fn judge(carve: &Carve, block_id: i64, len: u64, sha: &str) -> Verdict {
    if block_id < 0 || block_id >= carve.block_count as i64 {
        return Verdict::Refuse(format!(
            "block_id {block_id} out of range: the carve has {} blocks",
            carve.block_count
        ));
    }
    if block_id == carve.max_block && carve.last_block_sha256.as_deref() == Some(sha) {
        return Verdict::AlreadyStored;
    }
    if block_id != carve.max_block + 1 {
        return Verdict::Refuse(format!(
            "block_id {block_id} does not match the expected block {}",
            carve.max_block + 1
        ));
    }
    if len > carve.block_size {
        return Verdict::Refuse(format!(
            "block {block_id} is {len} bytes, more than the declared block_size {}",
            carve.block_size
        ));
    }
    let expected = carve.expected_block_len(block_id as u64);
    if len != expected {
        return Verdict::Refuse(format!(
            "block {block_id} is {len} bytes; expected {expected}"
        ));
    }
    Verdict::Store
}

/// Stores one block of a carve session. A refused block answers 400 and is recorded on the
/// carve; an unknown session (or a request id that does not match it) answers 404.
pub async fn store_block(app: &AppInner, request: BlockRequest) -> Result<(), ApiError> {
    let unknown = || ApiError::not_found("unknown carve session");
    let carve_id = carve_id_of_session(&request.session_id).ok_or_else(unknown)?;
    let store = app.ports.state.as_ref();
    let session_hash = sha256_hex(&request.session_id);
    // Decoded once, hashed once, and handed to the blob store without a copy.
    let data = base64::engine::general_purpose::STANDARD
        .decode(request.data.as_bytes())
        .map(|data| (hex::encode(Sha256::digest(&data)), bytes::Bytes::from(data)));
    drop(request.data);
    let mut blob_written = false;
    for _ in 0..ATTEMPTS {
        let (mut carve, version) = load(store, carve_id).await?.ok_or_else(unknown)?;
        if carve.session_hash != session_hash || carve.request_id != request.request_id {
            return Err(unknown());
        }
        if carve.expired(app.clock.unix()) {
            return Err(ApiError::not_found("carve session expired"));
        }
        let (sha, data) = match &data {
            Ok(decoded) => decoded,
            Err(_) => {
                let why = format!("block {} is not valid base64", request.block_id);
                record_refusal(app, carve_id, &why).await;
                return Err(ApiError::bad_request(why));
            }
        };
        match judge(&carve, request.block_id, data.len() as u64, sha) {
            Verdict::Refuse(why) => {
                record_refusal(app, carve_id, &why).await;
                return Err(ApiError::bad_request(why));
            }
            Verdict::AlreadyStored => {
                // The lost answer may have been a failed enqueue: make sure the job exists.
                enqueue_part_if_complete(app, &carve, request.block_id as u64).await?;
                return Ok(());
            }
            Verdict::Store => {}
        }
        let block_id = request.block_id as u64;
        if !blob_written {
            // The blob before the record: a recorded block is always readable.
            app.ports
                .blobs
                .put(&carve.block_blob(block_id), data.clone())
                .await?;
            blob_written = true;
        }
        carve.max_block = request.block_id;
        carve.last_block_sha256 = Some(sha.clone());
        if store_if_unchanged(store, &carve, version).await? {
            enqueue_part_if_complete(app, &carve, block_id).await?;
            return Ok(());
        }
        // Someone else wrote the carve (a retry of this block, a recorded refusal): judge again.
    }
    Err(ApiError::Unavailable(format!(
        "carve {carve_id} kept changing, retry"
    )))
}

/// Queues the assembly of the part `block_id` completes, if it completes one.
async fn enqueue_part_if_complete(
    app: &AppInner,
    carve: &Carve,
    block_id: u64,
) -> Result<(), ApiError> {
    let per_part = carve.blocks_per_part();
    let last_of_part = block_id % per_part == per_part - 1 || block_id + 1 == carve.block_count;
    if last_of_part {
        let job = Job::CarvePart {
            carve: carve.id,
            part: (block_id / per_part) as u32,
        };
        app.ports.queue.send(&job.to_message()?).await?;
    }
    Ok(())
}

/// The bytes of one block, from the block's own blob or, once assembled, from the carve.
pub async fn block_data(app: &AppInner, id: u64, block_id: u64) -> Result<Vec<u8>, ApiError> {
    let store = app.ports.state.as_ref();
    let not_found = || ApiError::not_found(format!("carve {id} not found"));
    let carve = get(store, id).await?.ok_or_else(not_found)?;
    if carve.expired(app.clock.unix()) {
        return Err(ApiError::Gone(format!("carve {id} has expired")));
    }
    if block_id as i64 > carve.max_block {
        return Err(ApiError::not_found(format!(
            "block {block_id} of carve {id} has not been received"
        )));
    }
    if carve.completed_at.is_some() {
        return read_assembled(app, &carve, block_id).await;
    }
    match app.ports.blobs.get(&carve.block_blob(block_id)).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        // Assembled (and the block deleted) since we read the record.
        Err(crate::ports::BlobError::NotFound) => {
            let carve = get(store, id).await?.ok_or_else(not_found)?;
            if carve.completed_at.is_none() {
                return Err(ApiError::Internal(format!(
                    "block {block_id} of carve {id} is recorded but missing"
                )));
            }
            read_assembled(app, &carve, block_id).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn read_assembled(app: &AppInner, carve: &Carve, block_id: u64) -> Result<Vec<u8>, ApiError> {
    let bytes = app
        .ports
        .blobs
        .get_range(
            &carve.data_blob(),
            carve.block_offset(block_id),
            carve.expected_block_len(block_id),
        )
        .await?;
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carve(block_count: u64, block_size: u64, carve_size: u64) -> Carve {
        Carve {
            id: 1,
            host_id: 1,
            name: String::new(),
            block_count,
            block_size,
            carve_size,
            carve_id: String::new(),
            request_id: String::new(),
            session_hash: String::new(),
            created_at: Utc::now(),
            expires_at: 0,
            max_block: -1,
            last_block_sha256: None,
            upload_id: String::new(),
            error: None,
            completed_at: None,
            campaign_id: None,
            swept: false,
        }
    }

    #[test]
    fn parts_cover_every_block_once_and_reach_the_minimum() {
        for (block_size, carve_size) in [
            (8192, 3 * 1024 * 1024 + 17),
            (2_000_000, 64 * 1024 * 1024),
            (2_000_000, 1),
            (MAX_BLOCK_SIZE, MAX_CARVE_SIZE),
            (MIN_BLOCK_SIZE, 10 * 1024 * 1024 + 1),
        ] {
            let c = carve(carve_size.div_ceil(block_size), block_size, carve_size);
            let mut next = 0;
            for part in 0..c.part_count() {
                let blocks = c.part_blocks(part);
                assert_eq!(blocks.start, next, "parts are contiguous");
                let bytes: u64 = blocks.clone().map(|b| c.expected_block_len(b)).sum();
                if part + 1 < c.part_count() {
                    assert!(bytes >= MIN_PART_SIZE, "part {part} has {bytes} bytes");
                }
                next = blocks.end;
            }
            assert_eq!(next, c.block_count, "every block is in a part");
            assert!(c.part_count() <= crate::ports::blobs::MAX_PART_NUMBER);
        }
    }

    #[test]
    fn begin_applies_fleets_checks() {
        let ok = |count, size, carve_size| {
            check_begin(&BeginRequest {
                block_count: count,
                block_size: size,
                carve_size,
                carve_id: "c".into(),
                request_id: "r".into(),
            })
            .is_ok()
        };
        assert!(ok(3, 8192, 8192 * 2 + 1));
        assert!(ok(3, 8192, 8192 * 3));
        assert!(!ok(3, 8192, 8192 * 2), "one block too many");
        assert!(!ok(3, 8192, 8192 * 3 + 1), "one block too few");
        assert!(!ok(0, 8192, 1), "no blocks");
        assert!(!ok(1, 8192, 0), "empty carve");
        assert!(
            !ok(1, MAX_BLOCK_SIZE + 1, 10),
            "block larger than a request"
        );
        assert!(!ok(3000, MAX_BLOCK_SIZE, MAX_CARVE_SIZE + 1), "over 8 GiB");
    }

    #[test]
    fn session_ids_name_their_carve() {
        let session = new_session_id(42);
        assert_eq!(carve_id_of_session(&session), Some(42));
        assert_eq!(carve_id_of_session("42"), None);
        assert_eq!(
            carve_id_of_session("x-0123456789abcdef0123456789abcdef"),
            None
        );
        assert_ne!(new_session_id(42), session);
    }
}
