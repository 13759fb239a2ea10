//! The blob port: named byte objects (S3 on AWS, a directory locally).

use async_trait::async_trait;
use bytes::Bytes;
use std::time::Duration;

/// S3's smallest multipart part, except the last one. The embedded store enforces it too, so
/// a design that would break on S3 breaks in local tests first.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// S3's largest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// A part of a multipart upload, as `complete_multipart` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1 to `MAX_PART_NUMBER`.
    pub number: u32,
    /// What `upload_part` answered for it.
    pub etag: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("invalid blob name: {0}")]
    InvalidName(String),
    /// The multipart upload does not exist: never created, aborted or already completed.
    #[error("multipart upload not found")]
    UploadNotFound,
    /// The store refused the request as malformed (a part too small, an unknown part or
    /// ETag, a part number out of range): retrying the same request cannot succeed.
    #[error("blob request rejected: {0}")]
    Rejected(String),
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Store `body` under `name` (a relative, slash-separated path), replacing any object there.
    async fn put(&self, name: &str, body: Bytes) -> Result<(), BlobError>;
    async fn get(&self, name: &str) -> Result<Bytes, BlobError>;
    /// Deleting a missing blob is not an error.
    async fn delete(&self, name: &str) -> Result<(), BlobError>;
    /// Names under `prefix`, in lexical order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;

    /// Up to `len` bytes from `offset` (fewer at the end of the blob, none past it), so large
    /// blobs are read a piece at a time. `len` 0 answers no bytes without looking for the blob.
    async fn get_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes, BlobError>;
    /// The blob's size in bytes.
    async fn size(&self, name: &str) -> Result<u64, BlobError>;
    /// Deletes every named blob; missing ones are not an error.
    async fn delete_many(&self, names: &[String]) -> Result<(), BlobError>;

    /// Starts a multipart upload that will become blob `name`; answers its upload id.
    /// Nothing is visible under `name` until `complete_multipart`. An upload belongs to its
    /// name: the other multipart calls with another name answer `UploadNotFound`, as S3 does.
    async fn create_multipart(&self, name: &str) -> Result<String, BlobError>;
    /// Stores part `number` (replacing an earlier upload of the same number) and answers
    /// its ETag, an opaque string to hand back to `complete_multipart` as it is. Every part
    /// but the last must be at least `MIN_PART_SIZE` bytes (checked on completion).
    async fn upload_part(
        &self,
        name: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<String, BlobError>;
    /// Joins `parts` (strictly ascending part numbers, each with the ETag of its latest
    /// upload) into blob `name`, atomically, and ends the upload. A `Rejected` completion
    /// (a part too small, missing or with another ETag, an empty or unordered list) leaves
    /// the upload as it was, so the caller may upload parts again, complete it or abort it.
    /// Once completed, the upload is gone (`UploadNotFound`), with one exception on S3: a
    /// repeated completion answers `Ok` while the object is still that upload's, so that a
    /// retry after a lost answer succeeds.
    async fn complete_multipart(
        &self,
        name: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), BlobError>;
    /// Drops an unfinished upload and its parts; an unknown upload is not an error.
    async fn abort_multipart(&self, name: &str, upload_id: &str) -> Result<(), BlobError>;

    /// A URL anyone holding it may GET the blob from until `expires_in` passes, or `None`
    /// when the store cannot hand out URLs (then the caller serves the bytes itself).
    async fn presigned_get(
        &self,
        name: &str,
        expires_in: Duration,
    ) -> Result<Option<String>, BlobError>;
}

/// Segments starting with this are the embedded store's own files (unfinished writes and
/// multipart uploads), so no blob name may have one.
pub const RESERVED_SEGMENT_PREFIX: &str = ".flotilla-";

/// Checks that `name` is a relative, slash-separated path: no empty, `.` or `..` segment, no
/// segment starting with `RESERVED_SEGMENT_PREFIX`, no leading slash, no backslash, no NUL; at
/// most 1024 bytes (S3's key limit) with segments of at most 255 bytes (a file name's limit).
/// Every adapter applies it, so a name that works locally works on S3 too and can neither
/// escape the embedded blob directory nor reach its internal files.
pub fn validate_name(name: &str) -> Result<(), BlobError> {
    let invalid = |why: &str| Err(BlobError::InvalidName(format!("{name:?}: {why}")));
    if name.is_empty() {
        return invalid("empty");
    }
    if name.len() > 1024 {
        return invalid("longer than 1024 bytes");
    }
    if name.contains('\\') || name.contains('\0') {
        return invalid("backslash or NUL");
    }
    for segment in name.split('/') {
        match segment {
            "" => return invalid("empty segment (leading, trailing or double slash)"),
            "." | ".." => return invalid("relative segment"),
            long if long.len() > 255 => return invalid("segment longer than 255 bytes"),
            reserved if reserved.starts_with(RESERVED_SEGMENT_PREFIX) => {
                return invalid("segment reserved for the store's own files")
            }
            _ => {}
        }
    }
    Ok(())
}
