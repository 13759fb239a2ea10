//! Blobs as files under a root directory.

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ports::blobs::{
    validate_name, CompletedPart, MAX_PART_NUMBER, MIN_PART_SIZE, RESERVED_SEGMENT_PREFIX,
};
use crate::ports::{BlobError, BlobStore};

/// Temporary files of unfinished writes start with this. Like every name starting with
/// `RESERVED_SEGMENT_PREFIX`, no blob can have it and `list` never shows it.
const TMP_PREFIX: &str = ".flotilla-tmp-";
/// Unfinished multipart uploads live in `<root>/MULTIPART_DIR/<upload id>/`: the file
/// `UPLOAD_TARGET` (the blob name the upload will become) and one `part-NNNNN` file per part.
const MULTIPART_DIR: &str = ".flotilla-multipart";
const UPLOAD_TARGET: &str = "target";
/// Hex digits of an upload id (128 random bits).
const UPLOAD_ID_LEN: usize = 32;
/// Read buffer when joining parts: large reads, yet bounded memory whatever the blob's size.
const COPY_BUFFER: usize = 1 << 20;

/// Checks a `list` prefix: like a name, except that it may be empty, end with a slash or
/// stop in the middle of a segment. Shared with the S3 adapter.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), BlobError> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        trimmed => validate_name(trimmed),
    }
}

/// Refuses a part number S3 would refuse. Shared with the S3 adapter, so that both answer
/// `Rejected` before any work.
pub(crate) fn check_part_number(number: u32) -> Result<(), BlobError> {
    if (1..=MAX_PART_NUMBER).contains(&number) {
        Ok(())
    } else {
        Err(BlobError::Rejected(format!(
            "part number {number} is outside 1..={MAX_PART_NUMBER}"
        )))
    }
}

/// Refuses the part lists S3 refuses without looking at the parts (MalformedXML,
/// InvalidArgument, InvalidPartOrder). Shared with the S3 adapter.
pub(crate) fn check_part_list(parts: &[CompletedPart]) -> Result<(), BlobError> {
    if parts.is_empty() {
        return Err(BlobError::Rejected("no parts to complete with".into()));
    }
    let mut previous = 0;
    for part in parts {
        check_part_number(part.number)?;
        if part.number <= previous {
            return Err(BlobError::Rejected(format!(
                "part numbers must be strictly ascending: {} after {previous}",
                part.number
            )));
        }
        previous = part.number;
    }
    Ok(())
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

fn parent(path: &Path) -> std::io::Result<&Path> {
    path.parent()
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "blob path has no parent"))
}

/// A name under which something can be set aside, invisible to `list`, in `dir`.
fn tmp_path(dir: &Path) -> PathBuf {
    dir.join(format!("{TMP_PREFIX}{:016x}", rand::random::<u64>()))
}

/// A file being written beside its final place; removed unless `persist` moved it there, so
/// that a failed write leaves nothing behind.
struct TmpFile {
    path: PathBuf,
    file: fs::File,
    persisted: bool,
}

impl TmpFile {
    /// Creates one in `dir`, creating `dir` (and its parents) first if `create_dir`.
    fn create_in(dir: &Path, create_dir: bool) -> std::io::Result<TmpFile> {
        // A concurrent delete may remove an emptied directory between our create_dir_all and
        // the create: try again then.
        let mut attempts = 0;
        loop {
            if create_dir {
                fs::create_dir_all(dir)?;
            }
            let path = tmp_path(dir);
            match fs::File::create_new(&path) {
                Ok(file) => {
                    return Ok(TmpFile {
                        path,
                        file,
                        persisted: false,
                    })
                }
                Err(e) if create_dir && e.kind() == ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Flushes the bytes to disk, renames the file to `path` (in the same directory) and
    /// flushes the directory, so that a crash leaves the old file at `path` or the new one.
    fn persist(mut self, path: &Path) -> std::io::Result<()> {
        self.file.sync_all()?;
        fs::rename(&self.path, path)?;
        self.persisted = true;
        sync_dir(parent(path)?)
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `body` to a temporary file beside `path` and renames it over `path` (see
/// `TmpFile::persist`), creating the directories on the way. A reader sees the old bytes or
/// the new ones, never a mix.
fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut tmp = TmpFile::create_in(parent(path)?, true)?;
    tmp.file.write_all(body)?;
    tmp.persist(path)
}

/// `write_atomically` into a directory that must exist already: a multipart upload's, which a
/// part must not bring back once the upload was completed or aborted. A missing directory
/// fails as `NotFound`.
fn write_atomically_in_existing_dir(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut tmp = TmpFile::create_in(parent(path)?, false)?;
    tmp.file.write_all(body)?;
    tmp.persist(path)
}

/// Removes `dir` and its parents up to `root` while they are empty. S3 has no directories:
/// one left empty would keep its name from becoming a blob. A non-empty directory refuses,
/// which ends the walk.
fn prune_empty_dirs(root: &Path, dir: Option<&Path>) {
    let mut dir = dir;
    while let Some(current) = dir {
        if current == root || fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

/// Deletes blob file `path` and then the directories this emptied, up to `root`.
fn remove_blob(root: &Path, path: &Path, name: &str) -> Result<(), BlobError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(io_error(name, e)),
    }
    prune_empty_dirs(root, path.parent());
    Ok(())
}

/// The ETag of a part with these bytes. S3's is the quoted MD5; a quoted SHA-256 keeps the
/// shape (callers treat it as opaque) without another hash dependency.
fn etag(digest: impl AsRef<[u8]>) -> String {
    format!("\"{}\"", hex::encode(digest))
}

fn part_file(upload_dir: &Path, number: u32) -> PathBuf {
    upload_dir.join(format!("part-{number:05}"))
}

/// A writer that hashes what passes through it, so joining parts checks their ETags in the
/// same single read.
struct Hashing<'a, W> {
    inner: &'a mut W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The directory of upload `upload_id`, if there is one and it will become blob `name`.
/// Anything else, including an id that could never have been issued (which also keeps a
/// crafted id from leaving the uploads directory), is `UploadNotFound`, as S3 answers.
fn upload_dir(uploads: &Path, name: &str, upload_id: &str) -> Result<PathBuf, BlobError> {
    let well_formed = upload_id.len() == UPLOAD_ID_LEN
        && upload_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return Err(BlobError::UploadNotFound);
    }
    let dir = uploads.join(upload_id);
    match fs::read(dir.join(UPLOAD_TARGET)) {
        Ok(target) if target == name.as_bytes() => Ok(dir),
        Ok(_) => Err(BlobError::UploadNotFound),
        Err(e) if is_absent(&e) => Err(BlobError::UploadNotFound),
        Err(e) => Err(io_error(name, e)),
    }
}

/// Moves an upload's directory out of every other call's reach in one rename, so that of
/// concurrent completes and aborts exactly one goes on with it. `None`: another one did.
fn claim_upload(uploads: &Path, dir: &Path) -> std::io::Result<Option<PathBuf>> {
    let claimed = tmp_path(uploads);
    match fs::rename(dir, &claimed) {
        Ok(()) => Ok(Some(claimed)),
        Err(e) if is_absent(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a claimed upload directory. The upload has ended either way: a failure here only
/// leaves an invisible directory behind, so it is logged, not answered.
fn discard_claimed(claimed: &Path) {
    if let Err(e) = fs::remove_dir_all(claimed) {
        tracing::warn!(dir = %claimed.display(), error = %e, "cannot remove an ended multipart upload");
    }
}

/// Checks `parts` against the upload's files and joins them into a temporary file beside
/// `target`, verifying each part's ETag as it goes. The answer is ready to persist.
fn join_parts(
    dir: &Path,
    target: &Path,
    name: &str,
    parts: &[CompletedPart],
) -> Result<TmpFile, BlobError> {
    // Sizes first, so that a part too small is refused before copying gigabytes.
    for (index, part) in parts.iter().enumerate() {
        let size = match fs::metadata(part_file(dir, part.number)) {
            Ok(metadata) => metadata.len(),
            Err(e) if is_absent(&e) => {
                return Err(BlobError::Rejected(format!(
                    "part {} was not uploaded",
                    part.number
                )))
            }
            Err(e) => return Err(io_error(name, e)),
        };
        if index + 1 < parts.len() && size < MIN_PART_SIZE {
            return Err(BlobError::Rejected(format!(
                "part {} has {size} bytes; every part but the last needs {MIN_PART_SIZE}",
                part.number
            )));
        }
    }
    let mut joined = parent(target)
        .and_then(|dir| TmpFile::create_in(dir, true))
        .map_err(|e| io_error(name, e))?;
    for part in parts {
        // The file is opened once and read through: a concurrent re-upload replaces the path,
        // not what this handle reads, and the ETag check below covers what was read.
        let file = match fs::File::open(part_file(dir, part.number)) {
            Ok(file) => file,
            Err(e) if is_absent(&e) => {
                return Err(BlobError::Rejected(format!(
                    "part {} was not uploaded",
                    part.number
                )))
            }
            Err(e) => return Err(io_error(name, e)),
        };
        let mut hashing = Hashing {
            inner: &mut joined.file,
            hasher: Sha256::new(),
        };
        std::io::copy(
            &mut BufReader::with_capacity(COPY_BUFFER, file),
            &mut hashing,
        )
        .map_err(|e| io_error(name, e))?;
        if etag(hashing.hasher.finalize()) != part.etag {
            return Err(BlobError::Rejected(format!(
                "part {}: ETag {} is not its latest upload's",
                part.number, part.etag
            )));
        }
    }
    Ok(joined)
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
        // Unfinished writes and multipart uploads: never blobs (no name may look like them).
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(RESERVED_SEGMENT_PREFIX)
        {
            continue;
        }
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
        } else if file_type.is_file() && name.starts_with(prefix) {
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

    fn uploads(&self) -> PathBuf {
        self.root.join(MULTIPART_DIR)
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
        blocking(move || remove_blob(&root, &path, &name)).await
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

    async fn get_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes, BlobError> {
        let path = self.path(name)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let name = name.to_string();
        blocking(move || {
            let read = || -> std::io::Result<Option<Vec<u8>>> {
                let mut file = fs::File::open(&path)?;
                let metadata = file.metadata()?;
                // A directory opens fine on Unix, but it is no blob.
                if !metadata.is_file() {
                    return Ok(None);
                }
                let size = metadata.len();
                if offset >= size {
                    return Ok(Some(Vec::new()));
                }
                // Sized by what the file holds, not by `len`, which may be huge.
                let wanted = len.min(size - offset);
                let mut bytes = Vec::with_capacity(usize::try_from(wanted).unwrap_or(0));
                file.seek(SeekFrom::Start(offset))?;
                file.take(wanted).read_to_end(&mut bytes)?;
                Ok(Some(bytes))
            };
            match read() {
                Ok(Some(bytes)) => Ok(Bytes::from(bytes)),
                Ok(None) => Err(BlobError::NotFound),
                Err(e) if is_absent(&e) => Err(BlobError::NotFound),
                Err(e) => Err(io_error(&name, e)),
            }
        })
        .await
    }

    async fn size(&self, name: &str) -> Result<u64, BlobError> {
        let path = self.path(name)?;
        let name = name.to_string();
        blocking(move || match fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() => Ok(metadata.len()),
            Ok(_) => Err(BlobError::NotFound),
            Err(e) if is_absent(&e) => Err(BlobError::NotFound),
            Err(e) => Err(io_error(&name, e)),
        })
        .await
    }

    async fn delete_many(&self, names: &[String]) -> Result<(), BlobError> {
        // Every name is checked before anything is deleted, so a bad one deletes nothing.
        let paths = names
            .iter()
            .map(|name| Ok((self.path(name)?, name.clone())))
            .collect::<Result<Vec<_>, BlobError>>()?;
        let root = self.root.clone();
        blocking(move || {
            paths
                .iter()
                .try_for_each(|(path, name)| remove_blob(&root, path, name))
        })
        .await
    }

    async fn create_multipart(&self, name: &str) -> Result<String, BlobError> {
        validate_name(name)?;
        let uploads = self.uploads();
        let name = name.to_string();
        blocking(move || {
            let upload_id = format!("{:0width$x}", rand::random::<u128>(), width = UPLOAD_ID_LEN);
            let dir = uploads.join(&upload_id);
            fs::create_dir_all(&uploads)
                .and_then(|()| fs::create_dir(&dir))
                .map_err(|e| io_error(&name, e))?;
            // Until the target is recorded, every other call takes the upload for unknown.
            let recorded = write_atomically(&dir.join(UPLOAD_TARGET), name.as_bytes())
                .and_then(|()| sync_dir(&uploads));
            match recorded {
                Ok(()) => Ok(upload_id),
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    Err(io_error(&name, e))
                }
            }
        })
        .await
    }

    async fn upload_part(
        &self,
        name: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<String, BlobError> {
        validate_name(name)?;
        check_part_number(number)?;
        let uploads = self.uploads();
        let name = name.to_string();
        let upload_id = upload_id.to_string();
        blocking(move || {
            let dir = upload_dir(&uploads, &name, &upload_id)?;
            match write_atomically_in_existing_dir(&part_file(&dir, number), &body) {
                Ok(()) => Ok(etag(Sha256::digest(&body))),
                // Completed or aborted meanwhile: its directory went away under the write.
                Err(e) if is_absent(&e) => Err(BlobError::UploadNotFound),
                Err(e) => Err(io_error(&name, e)),
            }
        })
        .await
    }

    async fn complete_multipart(
        &self,
        name: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), BlobError> {
        let target = self.path(name)?;
        check_part_list(parts)?;
        let root = self.root.clone();
        let uploads = self.uploads();
        let name = name.to_string();
        let upload_id = upload_id.to_string();
        let parts = parts.to_vec();
        blocking(move || {
            let dir = upload_dir(&uploads, &name, &upload_id)?;
            // Joining creates the target's directories for its temporary file: a completion
            // that writes nothing must not leave them behind.
            let unwritten = |e: BlobError| {
                prune_empty_dirs(&root, target.parent());
                e
            };
            let joined = join_parts(&dir, &target, &name, &parts).map_err(unwritten)?;
            // The joined bytes are what the ETags named, whatever happens to the parts now;
            // claiming makes this the one completion (a concurrent one or an abort loses).
            let claimed = claim_upload(&uploads, &dir).map_err(|e| io_error(&name, e));
            let claimed = match claimed {
                Ok(Some(claimed)) => claimed,
                Ok(None) => {
                    drop(joined);
                    return Err(unwritten(BlobError::UploadNotFound));
                }
                Err(e) => {
                    drop(joined);
                    return Err(unwritten(e));
                }
            };
            if let Err(e) = joined.persist(&target) {
                // Nothing was written: give the upload back so the caller can retry or abort.
                let _ = fs::rename(&claimed, &dir);
                return Err(unwritten(io_error(&name, e)));
            }
            discard_claimed(&claimed);
            Ok(())
        })
        .await
    }

    async fn abort_multipart(&self, name: &str, upload_id: &str) -> Result<(), BlobError> {
        validate_name(name)?;
        let uploads = self.uploads();
        let name = name.to_string();
        let upload_id = upload_id.to_string();
        blocking(move || {
            let dir = match upload_dir(&uploads, &name, &upload_id) {
                Ok(dir) => dir,
                Err(BlobError::UploadNotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            if let Some(claimed) = claim_upload(&uploads, &dir).map_err(|e| io_error(&name, e))? {
                discard_claimed(&claimed);
            }
            Ok(())
        })
        .await
    }

    async fn presigned_get(
        &self,
        name: &str,
        _expires_in: Duration,
    ) -> Result<Option<String>, BlobError> {
        // Files have no URL of their own: the caller serves the bytes.
        validate_name(name)?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_names_are_reserved() {
        // `list` hides them and blob names cannot take them only because of this prefix.
        for internal in [TMP_PREFIX, MULTIPART_DIR] {
            assert!(internal.starts_with(RESERVED_SEGMENT_PREFIX), "{internal}");
        }
    }
}
