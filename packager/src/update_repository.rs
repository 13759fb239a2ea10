//! The update repository the agent binaries come from, through tough: metadata verified from
//! the trusted root, each target checked against its signed length and SHA-256 as it streams
//! to disk. Fleet's layout: metadata at the URL's root, targets under `targets/`.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tough::{HttpTransportBuilder, Repository, RepositoryLoader, TargetName};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum UpdateRepositoryError {
    #[error("update URL {url:?} is not a valid URL: {source}")]
    Url {
        url: String,
        source: url::ParseError,
    },
    #[error("loading the update repository at {url}: {source}")]
    Load {
        url: String,
        source: Box<tough::error::Error>,
    },
    #[error("the update repository has no target {0}")]
    NoTarget(String),
    #[error("downloading target {target}: {source}")]
    Download {
        target: String,
        source: Box<tough::error::Error>,
    },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// What the signed metadata says about one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    pub name: String,
    pub sha256: String,
    pub length: u64,
    /// The target's custom `version` (Fleet sets it on orbit targets).
    pub version: Option<String>,
}

/// A loaded (verified) repository.
#[derive(Debug, Clone)]
pub struct UpdateRepository {
    repository: Repository,
}

/// Per request; a dead or slow server ends the build with an error instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn urls(update_url: &str) -> Result<(Url, Url), UpdateRepositoryError> {
    let invalid = |source| UpdateRepositoryError::Url {
        url: update_url.to_owned(),
        source,
    };
    let mut metadata = Url::parse(update_url).map_err(invalid)?;
    if !metadata.path().ends_with('/') {
        let path = format!("{}/", metadata.path());
        metadata.set_path(&path);
    }
    let targets = metadata.join("targets/").map_err(invalid)?;
    Ok((metadata, targets))
}

impl UpdateRepository {
    /// Loads and verifies the metadata, trusting `root` (root.json); `datastore` is a
    /// private, existing directory where tough keeps what it fetched.
    pub async fn load(
        update_url: &str,
        root: &[u8],
        datastore: &Path,
    ) -> Result<Self, UpdateRepositoryError> {
        let (metadata_url, targets_url) = urls(update_url)?;
        let transport = HttpTransportBuilder::new()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .tries(2)
            .initial_backoff(Duration::from_millis(200))
            .build();
        let repository = RepositoryLoader::new(&root, metadata_url, targets_url)
            .transport(transport)
            .datastore(datastore)
            .load()
            .await
            .map_err(|source| UpdateRepositoryError::Load {
                url: update_url.to_owned(),
                source: Box::new(source),
            })?;
        Ok(UpdateRepository { repository })
    }

    pub fn target(&self, name: &str) -> Result<TargetInfo, UpdateRepositoryError> {
        let missing = || UpdateRepositoryError::NoTarget(name.to_owned());
        let target_name = TargetName::new(name).map_err(|_| missing())?;
        let found = self
            .repository
            .targets()
            .signed
            .find_target(&target_name, false)
            .map_err(|_| missing())?;
        Ok(TargetInfo {
            name: name.to_owned(),
            sha256: hex::encode(&found.hashes.sha256),
            length: found.length,
            version: found
                .custom
                .get("version")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        })
    }

    /// Streams the target into `destination`. tough ends the stream with an error when the
    /// data is longer than signed or its hash differs, so a file written to the end is the
    /// signed one.
    pub async fn download(
        &self,
        name: &str,
        destination: &Path,
    ) -> Result<(), UpdateRepositoryError> {
        let download_error = |source| UpdateRepositoryError::Download {
            target: name.to_owned(),
            source: Box::new(source),
        };
        let target_name =
            TargetName::new(name).map_err(|_| UpdateRepositoryError::NoTarget(name.to_owned()))?;
        let mut stream = self
            .repository
            .read_target(&target_name)
            .await
            .map_err(download_error)?
            .ok_or_else(|| UpdateRepositoryError::NoTarget(name.to_owned()))?;
        let io = |e| UpdateRepositoryError::Io(format!("writing {}", destination.display()), e);
        let mut file = tokio::fs::File::create(destination).await.map_err(io)?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(download_error)?)
                .await
                .map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(())
    }
}
