//! Getting a verified target from staging into `bin/`: download through tough (which checks
//! the signed length and hashes while reading), prove the new file works, then rename it over
//! the old one. Until that rename nothing under `bin/` changes, so any failure leaves the
//! current version exactly as it was.

use super::error::UpdateError;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tough::{Repository, TargetName};

/// How long a new executable gets to answer `--version`.
pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the updater puts in `staging/` starts with this, so leftovers of an attempt cut
/// short (power loss, kill) can be swept without touching anything else there.
pub(crate) const STAGING_PREFIX: &str = "tuf-";

/// The SHA-256 of a file, or `None` when there is no such file.
pub(crate) async fn sha256_file(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Ok(Some(hasher.finalize().to_vec()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// The staging names of one attempt: the downloaded file, the directory an archive unpacks
/// into, and where replaced archive contents wait to be deleted.
#[derive(Debug)]
pub(crate) struct Staging {
    pub file: PathBuf,
    pub unpacked: PathBuf,
    pub replaced: PathBuf,
}

impl Staging {
    /// Unique names under `staging/`; the file keeps the target's name at the end so a Windows
    /// `.exe` stays runnable for the check.
    pub(crate) fn new(staging: &Path, file_name: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Staging {
            file: staging.join(format!("{STAGING_PREFIX}{id}.{file_name}")),
            unpacked: staging.join(format!("{STAGING_PREFIX}{id}.d")),
            replaced: staging.join(format!("{STAGING_PREFIX}{id}.old")),
        }
    }

    /// Best effort: a leftover is swept by the next updater start.
    pub(crate) async fn remove(&self) {
        for result in [
            tokio::fs::remove_file(&self.file).await,
            tokio::fs::remove_dir_all(&self.unpacked).await,
            tokio::fs::remove_dir_all(&self.replaced).await,
        ] {
            if let Err(e) = result {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::debug!(error = %e, "cannot remove a staging entry");
                }
            }
        }
    }
}

/// Removes what earlier attempts left in `staging/` (only the updater's own entries).
pub(crate) async fn sweep_staging(staging: &Path) {
    let mut entries = match tokio::fs::read_dir(staging).await {
        Ok(entries) => entries,
        Err(_) => return,
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(STAGING_PREFIX)
        {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type().await {
            Ok(kind) if kind.is_dir() => tokio::fs::remove_dir_all(&path).await,
            _ => tokio::fs::remove_file(&path).await,
        };
        if let Err(e) = removed {
            tracing::debug!(path = %path.display(), error = %e, "cannot sweep a staging entry");
        }
    }
}

/// Streams the target into `destination`. tough yields an error (instead of the end of the
/// stream) when the data is longer than signed or its hash differs, so a file that was written
/// to the end is the signed one.
pub(crate) async fn download(
    repository: &Repository,
    name: &TargetName,
    destination: &Path,
) -> Result<(), UpdateError> {
    let download_error = |source| UpdateError::Download {
        target: name.raw().to_owned(),
        source: Box::new(source),
    };
    let mut stream = repository
        .read_target(name)
        .await
        .map_err(download_error)?
        .ok_or_else(|| UpdateError::NoTarget(name.raw().to_owned()))?;
    let mut file = tokio::fs::File::create(destination)
        .await
        .map_err(UpdateError::io("cannot create", destination))?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(download_error)?;
        file.write_all(&chunk)
            .await
            .map_err(UpdateError::io("cannot write", destination))?;
    }
    // On disk before the rename, or a power cut could leave an empty file under the final name.
    file.sync_all()
        .await
        .map_err(UpdateError::io("cannot sync", destination))?;
    // Closed here rather than whenever tokio gets to it: executing a file that is still open
    // for writing fails with ETXTBSY.
    drop(file.into_std().await);
    Ok(())
}

#[cfg(unix)]
pub(crate) async fn make_executable(path: &Path) -> Result<(), UpdateError> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .await
        .map_err(UpdateError::io("cannot set the mode of", path))
}

#[cfg(not(unix))]
pub(crate) async fn make_executable(_path: &Path) -> Result<(), UpdateError> {
    Ok(())
}

/// Starts `command`, retrying briefly on ETXTBSY: a fork elsewhere in this process (osqueryd's
/// supervisor, another check) can momentarily hold a descriptor of the just-written file.
pub(crate) async fn spawn(
    command: &mut tokio::process::Command,
) -> io::Result<tokio::process::Child> {
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => return other,
        }
    }
}

/// A new executable must at least start and answer `--version` successfully; one that cannot
/// (wrong architecture, truncated, missing libraries) is never swapped in.
pub(crate) async fn check_executable(path: &Path, timeout: Duration) -> Result<(), UpdateError> {
    let mut command = tokio::process::Command::new(path);
    command
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = spawn(&mut command)
        .await
        .map_err(UpdateError::io("cannot run", path))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Err(_) => Err(UpdateError::CheckTimedOut {
            path: path.to_path_buf(),
            seconds: timeout.as_secs(),
        }),
        Ok(Err(e)) => Err(UpdateError::io("cannot wait for", path)(e)),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(UpdateError::CheckFailed {
            path: path.to_path_buf(),
            status,
        }),
    }
}

/// Unpacks a `.tar.gz` into `directory` and checks something came out. tar refuses entries
/// that would land outside `directory`.
pub(crate) async fn unpack(archive: &Path, directory: &Path) -> Result<(), UpdateError> {
    let archive = archive.to_path_buf();
    let directory = directory.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let extract_error = |source| UpdateError::Extract {
            path: archive.clone(),
            source,
        };
        std::fs::create_dir_all(&directory)
            .map_err(UpdateError::io("cannot create", &directory))?;
        let file = std::fs::File::open(&archive).map_err(extract_error)?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        tar.set_preserve_permissions(true);
        tar.set_unpack_xattrs(false);
        tar.unpack(&directory).map_err(extract_error)?;
        let mut entries = std::fs::read_dir(&directory).map_err(extract_error)?;
        if entries.next().is_none() {
            return Err(UpdateError::EmptyArchive(archive.clone()));
        }
        Ok(())
    })
    .await?
}

/// Moves each top-level entry of `unpacked` into `destination`, putting whatever it replaces
/// into `replaced` (deleted by the caller afterwards).
pub(crate) async fn move_unpacked(
    unpacked: &Path,
    destination: &Path,
    replaced: &Path,
) -> Result<(), UpdateError> {
    let mut entries = tokio::fs::read_dir(unpacked)
        .await
        .map_err(UpdateError::io("cannot read", unpacked))?;
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(UpdateError::io("cannot read", unpacked))?
    {
        let target = destination.join(entry.file_name());
        if tokio::fs::symlink_metadata(&target).await.is_ok() {
            tokio::fs::create_dir_all(replaced)
                .await
                .map_err(UpdateError::io("cannot create", replaced))?;
            let aside = replaced.join(entry.file_name());
            tokio::fs::rename(&target, &aside)
                .await
                .map_err(UpdateError::io("cannot move aside", &target))?;
        }
        tokio::fs::rename(entry.path(), &target)
            .await
            .map_err(UpdateError::io("cannot move into place", &target))?;
    }
    Ok(())
}

/// The atomic step: same filesystem (`staging/` and `bin/` share the root directory), so
/// the old file is replaced in one rename and never half-written.
pub(crate) async fn rename_into_place(staged: &Path, path: &Path) -> Result<(), UpdateError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(UpdateError::io("cannot create", parent))?;
    }
    tokio::fs::rename(staged, path)
        .await
        .map_err(UpdateError::io("cannot rename into", path))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[tokio::test]
    async fn a_hanging_executable_fails_the_check_and_is_killed() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let marker = dir.path().join("still-running");
        let hangs = write_script(
            dir.path(),
            "hangs",
            &format!("sleep 1\ntouch '{}'", marker.display()),
        );
        let checked = check_executable(&hangs, Duration::from_millis(200)).await;
        assert!(
            matches!(checked, Err(UpdateError::CheckTimedOut { .. })),
            "{checked:?}"
        );
        // Killed at the timeout: it never reaches the line after its sleep.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!marker.exists());

        let answers = write_script(dir.path(), "answers", "echo 'osqueryd version 5.12.1'");
        assert!(check_executable(&answers, CHECK_TIMEOUT).await.is_ok());
        let missing = check_executable(&dir.path().join("absent"), CHECK_TIMEOUT).await;
        assert!(
            matches!(missing, Err(UpdateError::Io { .. })),
            "{missing:?}"
        );
    }

    #[tokio::test]
    async fn only_the_updaters_own_staging_entries_are_swept() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        std::fs::write(dir.path().join("tuf-old.osqueryd"), "partial").expect("write");
        std::fs::create_dir_all(dir.path().join("tuf-old.d/fleet-desktop")).expect("mkdir");
        std::fs::write(dir.path().join("someone-elses.pkg"), "keep").expect("write");
        sweep_staging(dir.path()).await;
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["someone-elses.pkg"]);
    }
}
