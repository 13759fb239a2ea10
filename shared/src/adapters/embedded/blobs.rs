//! Blobs as files under a root directory.

use async_trait::async_trait;
use bytes::Bytes;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::ports::blobs::validate_name;
use crate::ports::{BlobError, BlobStore};

/// Temporary files of unfinished writes start with this; `list` never shows them.
const TMP_PREFIX: &str = ".flotilla-tmp-";

/// Checks a `list` prefix: like a name, except that it may be empty, end with a slash or
/// stop in the middle of a segment. Shared with the S3 adapter.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), BlobError> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        trimmed => validate_name(trimmed),
    }
}

/// The file-system `BlobStore`. Writes are atomic (a reader sees the old or the new bytes,
/// never a mix) and durable once `put` returns. Unlike S3, a name cannot be both an object and
/// a "directory" of other objects (`a` and `a/b`): such a put fails as `Unavailable`.
#[derive(Debug, Clone)]
pub struct DirBlobs {
    root: PathBuf,
}

fn io_error(name: &str, e: std::io::Error) -> BlobError {
    BlobError::Unavailable(format!("blob {name}: {e}"))
}

/// Errors meaning "there is no file by that name".
fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::NotFound | ErrorKind::IsADirectory | ErrorKind::NotADirectory
    )
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::Unavailable(format!("blob task failed: {e}")))?
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Writes `body` to a temporary file beside `path`, flushes it to disk, renames it over
/// `path` and flushes the directory, so that a crash leaves the old blob or the new one.
fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "blob path has no parent"))?;
    // A concurrent delete may remove an emptied directory between our create_dir_all and
    // the create: try again then.
    let mut attempts = 0;
    let (tmp, mut file) = loop {
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{TMP_PREFIX}{:016x}", rand::random::<u64>()));
        match fs::File::create_new(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == ErrorKind::NotFound && attempts < 3 => attempts += 1,
            Err(e) => return Err(e),
        }
    };
    let written = file
        .write_all(body)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| sync_dir(dir));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Every file under `dir` whose name (relative to `root`, slash-separated) starts with
/// `prefix`. Symbolic links and non-UTF-8 names are not blobs and are skipped.
fn collect(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_type = entry.file_type()?;
        let path = entry.path();
        let Some(name) = path
            .strip_prefix(root)
            .ok()
            .and_then(|relative| relative.to_str())
            .map(|relative| relative.replace(std::path::MAIN_SEPARATOR, "/"))
        else {
            continue;
        };
        if file_type.is_dir() {
            // Descend only where names can still match the prefix.
            let as_dir = format!("{name}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                collect(root, &path, prefix, out)?;
            }
        } else if file_type.is_file()
            && name.starts_with(prefix)
            && !entry.file_name().to_string_lossy().starts_with(TMP_PREFIX)
        {
            out.push(name);
        }
    }
    Ok(())
}

impl DirBlobs {
    /// Blobs under `root` (created on the first put).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirBlobs { root: root.into() }
    }

    fn path(&self, name: &str) -> Result<PathBuf, BlobError> {
        validate_name(name)?;
        Ok(self.root.join(name))
    }
}

#[async_trait]
impl BlobStore for DirBlobs {
    async fn put(&self, name: &str, body: Bytes) -> Result<(), BlobError> {
        let path = self.path(name)?;
        let name = name.to_string();
        blocking(move || write_atomically(&path, &body).map_err(|e| io_error(&name, e))).await
    }

    async fn get(&self, name: &str) -> Result<Bytes, BlobError> {
        let path = self.path(name)?;
        let name = name.to_string();
        blocking(move || match fs::read(&path) {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if is_absent(&e) => Err(BlobError::NotFound),
            Err(e) => Err(io_error(&name, e)),
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<(), BlobError> {
        let path = self.path(name)?;
        let root = self.root.clone();
        let name = name.to_string();
        blocking(move || {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if is_absent(&e) => return Ok(()),
                Err(e) => return Err(io_error(&name, e)),
            }
            // S3 has no directories: drop the ones this delete emptied, so that the name of
            // one can become a blob again. A non-empty directory refuses, which ends the walk.
            let mut dir = path.parent();
            while let Some(current) = dir {
                if current == root || fs::remove_dir(current).is_err() {
                    break;
                }
                dir = current.parent();
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        let prefix = prefix.to_string();
        blocking(move || {
            let mut names = Vec::new();
            collect(&root, &root, &prefix, &mut names).map_err(|e| io_error(&prefix, e))?;
            // Byte order, as S3 lists keys (a directory walk would put "a/b" before "a-c").
            names.sort_unstable();
            Ok(names)
        })
        .await
    }
}
