//! Why an update attempt ended without installing anything. These never leave the updater as
//! errors: `Updater::update` turns each into `UpdateOutcome::Kept` with the message as reason.

use std::path::PathBuf;
use std::process::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("channel {0:?} is not a plain name")]
    Channel(String),
    #[error("update URL {url:?}: {source}")]
    Url {
        url: String,
        source: url::ParseError,
    },
    #[error("TLS for the update server: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Loading or verifying the repository metadata (unreachable server, bad signatures,
    /// expired metadata, rollback, clock stepped backward).
    #[error("TUF repository: {0}")]
    Repository(#[source] Box<tough::error::Error>),
    #[error("target {0} is not in the repository")]
    NoTarget(String),
    /// Downloading the target, including tough's length and hash checks.
    #[error("downloading {target}: {source}")]
    Download {
        target: String,
        source: Box<tough::error::Error>,
    },
    #[error("{path} --version did not finish within {seconds} s")]
    CheckTimedOut { path: PathBuf, seconds: u64 },
    #[error("{path} --version failed: {status}")]
    CheckFailed { path: PathBuf, status: ExitStatus },
    #[error("archive {path}: {source}")]
    Extract {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("archive {0} holds no files")]
    EmptyArchive(PathBuf),
    #[error("the update attempt took longer than {} minutes", .0.as_secs() / 60)]
    TimedOut(std::time::Duration),
    #[error("blocking task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl UpdateError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| UpdateError::Io {
            action,
            path,
            source,
        }
    }
}
