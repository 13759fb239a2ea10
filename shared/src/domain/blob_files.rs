//! Files to and from the blob store a part at a time, so that an installer of hundreds of MB
//! passes through a Lambda's memory 8 MiB at a time.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ports::{BlobError, BlobStore, CompletedPart};

/// Above S3's 5 MiB part minimum, small enough to hold one in memory.
const PART: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{name} does not match its SHA-256 (expected {expected}, got {actual})")]
    Digest {
        name: String,
        expected: String,
        actual: String,
    },
}

fn io(what: &str, path: &Path) -> impl Fn(std::io::Error) -> TransferError {
    let context = format!("{what} {}", path.display());
    move |e| TransferError::Io(context.clone(), e)
}

/// Fills `buffer` from `file` as far as it goes; answers how many bytes were read.
async fn fill(file: &mut tokio::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let read = file.read(&mut buffer[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}

/// Stores the file at `path` as blob `name`: one PUT when small, else a multipart upload
/// (aborted if any part fails, so no half-written blob appears under `name`).
pub async fn upload(blobs: &dyn BlobStore, name: &str, path: &Path) -> Result<u64, TransferError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(io("opening", path))?;
    let mut buffer = vec![0u8; PART];
    let first = fill(&mut file, &mut buffer)
        .await
        .map_err(io("reading", path))?;
    if first < PART {
        buffer.truncate(first);
        blobs.put(name, Bytes::from(buffer)).await?;
        return Ok(first as u64);
    }
    let upload_id = blobs.create_multipart(name).await?;
    let result = async {
        let mut parts = Vec::new();
        let mut total = 0u64;
        let mut length = first;
        loop {
            let number = parts.len() as u32 + 1;
            let body = Bytes::copy_from_slice(&buffer[..length]);
            let etag = blobs.upload_part(name, &upload_id, number, body).await?;
            parts.push(CompletedPart { number, etag });
            total += length as u64;
            length = fill(&mut file, &mut buffer)
                .await
                .map_err(io("reading", path))?;
            if length == 0 {
                break;
            }
        }
        blobs.complete_multipart(name, &upload_id, &parts).await?;
        Ok::<u64, TransferError>(total)
    }
    .await;
    if result.is_err() {
        let _ = blobs.abort_multipart(name, &upload_id).await;
    }
    result
}

/// Writes blob `name` to `path` a range at a time; with `sha256`, checks the bytes against it
/// (a cached target must still be the signed one).
pub async fn download(
    blobs: &dyn BlobStore,
    name: &str,
    path: &Path,
    sha256: Option<&str>,
) -> Result<u64, TransferError> {
    let size = blobs.size(name).await?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(io("creating", path))?;
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    while offset < size {
        let chunk = blobs
            .get_range(name, offset, (PART as u64).min(size - offset))
            .await?;
        if chunk.is_empty() {
            return Err(BlobError::NotFound.into());
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io("writing", path))?;
        offset += chunk.len() as u64;
    }
    file.flush().await.map_err(io("writing", path))?;
    if let Some(expected) = sha256 {
        let actual = hex::encode(hasher.finalize());
        if actual != expected {
            return Err(TransferError::Digest {
                name: name.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
    }
    Ok(size)
}
