//! The orbit node key: kept in `<root>/secret-orbit-node-key.txt` (readable by root only),
//! obtained by enrolling with the enroll secret, dropped on any 401 so the next call enrolls
//! again, as Fleet's orbit does.

use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Mutex;

use crate::host_facts::HostFacts;
use crate::orbit_api::{ApiError, OrbitApi};

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(300);

pub struct Enrollment {
    api: OrbitApi,
    secret: String,
    facts: HostFacts,
    instance_identifier: bool,
    key_file: PathBuf,
    key: Mutex<Option<String>>,
}

/// Writes `contents` to `path` with `mode`, through a temporary file, so a crash never leaves
/// half a file, and the file is never readable more widely than `mode` for a moment.
pub fn write_private(path: &std::path::Path, contents: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(&tmp)?;
    #[cfg(unix)]
    {
        // The mode of an existing temporary file is not changed by open.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Enrollment {
    pub fn new(
        api: OrbitApi,
        secret: String,
        facts: HostFacts,
        instance_identifier: bool,
        key_file: PathBuf,
    ) -> Self {
        let stored = std::fs::read_to_string(&key_file)
            .ok()
            .map(|key| key.trim().to_string())
            .filter(|key| !key.is_empty());
        Enrollment {
            api,
            secret,
            facts,
            instance_identifier,
            key_file,
            key: Mutex::new(stored),
        }
    }

    pub fn api(&self) -> &OrbitApi {
        &self.api
    }

    pub fn facts(&self) -> &HostFacts {
        &self.facts
    }

    /// The node key, enrolling first (and retrying with backoff) when there is none.
    pub async fn node_key(&self) -> String {
        let mut key = self.key.lock().await;
        if let Some(key) = key.as_ref() {
            return key.clone();
        }
        let mut wait = FIRST_RETRY;
        loop {
            match self
                .api
                .enroll(&self.secret, &self.facts, self.instance_identifier)
                .await
            {
                Ok(enrolled) => {
                    if let Err(err) = write_private(&self.key_file, &enrolled, 0o600) {
                        // Still usable for this run; the next start enrolls again.
                        tracing::error!(%err, file = %self.key_file.display(), "cannot store the orbit node key");
                    }
                    tracing::info!("enrolled");
                    *key = Some(enrolled.clone());
                    return enrolled;
                }
                Err(err) => {
                    tracing::warn!(%err, retry_in = ?wait, "enroll failed");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(LONGEST_RETRY);
                }
            }
        }
    }

    /// Forgets a node key the server refused (deleting the file), so the next call enrolls.
    pub async fn forget(&self, refused: &str) {
        let mut key = self.key.lock().await;
        if key.as_deref() == Some(refused) {
            *key = None;
            if let Err(err) = std::fs::remove_file(&self.key_file) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(%err, "cannot delete the refused orbit node key");
                }
            }
            tracing::info!("the server refused the orbit node key; enrolling again");
        }
    }

    /// Runs an authenticated call, enrolling again once if the server answers 401.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, ApiError>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        for _ in 0..2 {
            let key = self.node_key().await;
            match call(key.clone()).await {
                Err(ApiError::Unauthorized) => self.forget(&key).await,
                other => return other,
            }
        }
        Err(ApiError::Unauthorized)
    }
}
