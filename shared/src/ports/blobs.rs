//! The blob port: named byte objects (S3 on AWS, a directory locally).

use async_trait::async_trait;
use bytes::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("invalid blob name: {0}")]
    InvalidName(String),
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
}

/// Checks that `name` is a relative, slash-separated path: no empty, `.` or `..` segment, no
/// leading slash, no backslash, no NUL; at most 1024 bytes (S3's key limit) with segments of at
/// most 255 bytes (a file name's limit). Every adapter applies it, so a name that works locally
/// works on S3 too and cannot escape the embedded blob directory.
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
            _ => {}
        }
    }
    Ok(())
}
