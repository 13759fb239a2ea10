//! The agent binaries for a package, from the update repository through tough, cached in the
//! blob store by SHA-256 (targets change every few weeks; a second build downloads nothing),
//! with the verified metadata kept per instance for a few minutes.

use std::path::Path;
use std::time::Duration;

use packager::contents::Contents;
use packager::kind::PackageType;
use packager::options::Targets;
use packager::update_repository::{TargetInfo, UpdateRepository, UpdateRepositoryError};
use sha2::{Digest, Sha256};

use super::request::PackageArgs;
use crate::app::AppInner;
use crate::domain::blob_files::{self, TransferError};

/// How long loaded metadata is reused before it is refreshed from the repository.
pub const METADATA_TTL: Duration = Duration::from_secs(300);

pub const CACHE_PREFIX: &str = "packager-cache/targets/";

#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    #[error(
        "no trusted root metadata for {0}: give \"update_roots\" (the repository's root.json) \
         or configure the deployment's default root"
    )]
    NoRoot(String),
    #[error(transparent)]
    Repository(#[from] UpdateRepositoryError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Loaded repositories by (URL, root), per instance.
#[derive(Clone)]
pub struct RepositoryCache(moka::sync::Cache<String, UpdateRepository>);

impl Default for RepositoryCache {
    fn default() -> Self {
        RepositoryCache(
            moka::sync::Cache::builder()
                .max_capacity(16)
                .time_to_live(METADATA_TTL)
                .build(),
        )
    }
}

fn cache_key(url: &str, root: &str) -> String {
    hex::encode(Sha256::digest(format!("{url}\n{root}")))
}

async fn repository(
    app: &AppInner,
    url: &str,
    root: &str,
    log: &mut Vec<String>,
) -> Result<UpdateRepository, TargetsError> {
    let key = cache_key(url, root);
    if let Some(loaded) = app.update_repositories.0.get(&key) {
        log.push(format!(
            "update metadata of {url}: cached (refreshed every {} s)",
            METADATA_TTL.as_secs()
        ));
        return Ok(loaded);
    }
    // tough's datastore, per repository and root, kept across builds of a warm instance.
    let datastore = std::env::temp_dir().join("flotilla-tuf").join(&key);
    tokio::fs::create_dir_all(&datastore)
        .await
        .map_err(|e| TargetsError::Io(format!("creating {}", datastore.display()), e))?;
    let loaded = UpdateRepository::load(url, root.as_bytes(), &datastore).await?;
    log.push(format!("update metadata of {url}: loaded and verified"));
    app.update_repositories.0.insert(key, loaded.clone());
    Ok(loaded)
}

/// One target into `path`: from the cache when it holds the signed bytes, else from the
/// repository (then cached).
async fn fetch_one(
    app: &AppInner,
    repository: &UpdateRepository,
    info: &TargetInfo,
    path: &Path,
    log: &mut Vec<String>,
) -> Result<(), TargetsError> {
    let blobs = app.ports.blobs.as_ref();
    let cached = format!("{CACHE_PREFIX}{}", info.sha256);
    if blobs.size(&cached).await.ok() == Some(info.length) {
        match blob_files::download(blobs, &cached, path, Some(&info.sha256)).await {
            Ok(_) => {
                log.push(format!(
                    "{}: {} bytes, from the cache",
                    info.name, info.length
                ));
                return Ok(());
            }
            Err(err) => {
                tracing::warn!(target = %info.name, %err, "cached target unusable; fetching it again");
                let _ = blobs.delete(&cached).await;
            }
        }
    }
    repository.download(&info.name, path).await?;
    log.push(format!(
        "{}: {} bytes, downloaded and verified",
        info.name, info.length
    ));
    if let Err(err) = blob_files::upload(blobs, &cached, path).await {
        tracing::warn!(target = %info.name, %err, "could not cache the target");
    }
    Ok(())
}

/// Fetches the package's targets into `scratch`.
pub async fn fetch(
    app: &AppInner,
    args: &PackageArgs,
    kind: PackageType,
    scratch: &Path,
    log: &mut Vec<String>,
) -> Result<Targets, TargetsError> {
    let root = args
        .update_roots
        .clone()
        .or_else(|| app.settings.packager.update_root.clone())
        .ok_or_else(|| TargetsError::NoRoot(args.update_url.clone()))?;
    let repository = repository(app, &args.update_url, &root, log).await?;
    let names = kind.target_names(&args.options());
    let orbit = repository.target(&names.orbit)?;
    let osqueryd = repository.target(&names.osqueryd)?;
    let desktop = match &names.desktop {
        Some(name) => Some(repository.target(name)?),
        None => None,
    };
    let dir = scratch.join("targets");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| TargetsError::Io(format!("creating {}", dir.display()), e))?;
    let orbit_path = dir.join("orbit");
    let osqueryd_path = dir.join("osqueryd");
    let desktop_path = dir.join("desktop");
    fetch_one(app, &repository, &orbit, &orbit_path, log).await?;
    fetch_one(app, &repository, &osqueryd, &osqueryd_path, log).await?;
    if let Some(desktop) = &desktop {
        fetch_one(app, &repository, desktop, &desktop_path, log).await?;
    }
    Ok(Targets {
        // Fleet's orbit targets carry their version; without one the package still installs.
        version: orbit.version.clone().unwrap_or_else(|| "0.0.0".into()),
        orbit: Contents::File(orbit_path),
        osqueryd: Contents::File(osqueryd_path),
        desktop: desktop.map(|_| Contents::File(desktop_path)),
        tuf_root: root.into_bytes(),
    })
}
