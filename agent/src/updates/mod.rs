//! Self-update from a TUF repository, the way fleetd's orbit does it, with tough.
//!
//! One `Updater::update(component, channel)` call:
//!
//! 1. loads the repository: the trusted `root.json` (shipped or `--update-roots`), newer roots
//!    walked from it, then timestamp, snapshot and targets, each signature- and expiry-checked,
//!    with version-rollback state kept in `<root>/tuf`. Metadata lives at the update URL's root
//!    and targets under `targets/`, as on Fleet's update server. Requests go through the
//!    agent's own HTTPS client, so extra CAs, `--insecure` and the update client certificate
//!    (mTLS) apply;
//! 2. looks up `<component>/<platform>/<channel>/<file>`; if the local copy under
//!    `<root>/bin/` already has the signed SHA-256, it is up to date;
//! 3. otherwise downloads the target into `<root>/staging/` through tough, which cuts the
//!    download off as soon as it exceeds the signed length and fails it on a hash mismatch;
//! 4. proves the download works: an executable must answer `--version` within 10 s, an archive
//!    must unpack into something;
//! 5. renames it over the old file (same filesystem, so atomic), archive contents first and the
//!    archive last, so the archive's hash only matches once everything is in place.
//!
//! Why it never fails loudly: expired TUF metadata once took Fleet's agents offline fleet-wide.
//! Here expired or tampered metadata, an
//! unreachable server, a bad target or a full disk all end as `UpdateOutcome::Kept`: logged,
//! the current version untouched and still running. `update` returns an outcome, never an
//! error, and does not panic. A target that keeps failing rests for a cooldown (`failures`) so
//! a broken release is not downloaded every interval, and a whole attempt is bounded by
//! `ATTEMPT_TIMEOUT` so a server trickling bytes cannot hold the update loop.

mod components;
mod error;
mod failures;
mod install;
mod repository;
mod transport;

pub use components::{valid_channel, Component, Target, TargetKind};
pub use error::UpdateError;
pub use failures::FailurePolicy;
pub use transport::HttpClientTransport;

use crate::paths::RootDir;
use crate::tls::TlsOptions;
use failures::Failures;
use install::Staging;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tough::TargetName;

/// The HTTP client only limits connecting and each read, so a server trickling bytes (TUF's
/// "slow retrieval" attack) could otherwise hold the update loop forever. Generous: osqueryd
/// is tens of megabytes and some endpoints are on slow links.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone)]
pub struct UpdateSettings {
    pub root: RootDir,
    /// Base URL of the TUF repository (`--update-url`).
    pub update_url: String,
    /// The trusted root metadata (`root.json`) the chain of trust starts from.
    pub trusted_root: Vec<u8>,
    /// TLS for the update server (its own client certificate, `--update-tls-client-*`).
    pub tls: TlsOptions,
    /// The platform part of target names, usually `paths::platform()`.
    pub platform: String,
    pub failure_policy: FailurePolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// A new target was verified and swapped in at `path`; `version` is the target's custom
    /// `version` metadata when it has one.
    Installed {
        path: PathBuf,
        version: Option<String>,
    },
    /// The file at `path` already is the signed target.
    UpToDate { path: PathBuf },
    /// Nothing changed: the current file (if any) stays, for `reason`.
    Kept {
        path: Option<PathBuf>,
        reason: String,
    },
    /// This target failed too often; it is not tried again before `until`.
    CoolingDown { until: Instant },
}

pub struct Updater {
    settings: UpdateSettings,
    failures: Failures,
    staging_swept: bool,
}

/// An attempt that did not install anything; `target` (name and signed sha256) is set once the
/// failure is the target's fault, which is what the cooldown counts.
struct Failed {
    error: UpdateError,
    target: Option<(String, Vec<u8>)>,
}

impl From<UpdateError> for Failed {
    fn from(error: UpdateError) -> Self {
        Failed {
            error,
            target: None,
        }
    }
}

impl Updater {
    pub fn new(settings: UpdateSettings) -> Self {
        Updater {
            settings,
            failures: Failures::default(),
            staging_swept: false,
        }
    }

    pub fn settings(&self) -> &UpdateSettings {
        &self.settings
    }

    /// Where `component` from `channel` is (or would be) installed.
    pub fn local_path(&self, component: Component, channel: &str) -> PathBuf {
        component.local_path(&self.settings.root, &self.settings.platform, channel)
    }

    /// Brings `component` from `channel` up to date, or explains why it stays as it is.
    pub async fn update(&mut self, component: Component, channel: &str) -> UpdateOutcome {
        if !valid_channel(channel) {
            return UpdateOutcome::Kept {
                path: None,
                reason: UpdateError::Channel(channel.to_owned()).to_string(),
            };
        }
        let target = component.target(&self.settings.root, &self.settings.platform, channel);
        self.update_target(&target).await
    }

    /// Brings an osquery extension the orbit config names up to date
    /// (`extensions/<name>/<platform>/<channel>/<file>`, as Fleet publishes them).
    pub async fn update_extension(
        &mut self,
        name: &str,
        platform: &str,
        channel: &str,
        file_name: &str,
    ) -> UpdateOutcome {
        match Target::extension(&self.settings.root, name, platform, channel, file_name) {
            Some(target) => self.update_target(&target).await,
            None => UpdateOutcome::Kept {
                path: None,
                reason: format!("extension {name:?}: invalid name, platform, channel or file"),
            },
        }
    }

    /// Brings one target up to date, or explains why it stays as it is.
    pub async fn update_target(&mut self, target: &Target) -> UpdateOutcome {
        let path = target.local_path.clone();
        let label = target.name.as_str();
        let attempt = self.attempt(target);
        let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(result) => result,
            Err(_) => {
                // The attempt was dropped wherever it was; what it staged goes now.
                install::sweep_staging(&self.settings.root.staging()).await;
                Err(UpdateError::TimedOut(ATTEMPT_TIMEOUT).into())
            }
        };
        match result {
            Ok(outcome) => {
                match &outcome {
                    UpdateOutcome::Installed { path, version } => tracing::info!(
                        target = label,
                        path = %path.display(),
                        version = version.as_deref().unwrap_or("unknown"),
                        "installed an update"
                    ),
                    UpdateOutcome::CoolingDown { until } => tracing::info!(
                        target = label,
                        retry_in_s = until.saturating_duration_since(Instant::now()).as_secs(),
                        "update target failed repeatedly; waiting before trying it again"
                    ),
                    _ => tracing::debug!(target = label, "up to date"),
                }
                outcome
            }
            Err(Failed { error, target }) => {
                if let Some((name, sha256)) = target {
                    let policy = self.settings.failure_policy;
                    if let Some(until) =
                        self.failures.failed(&name, &sha256, policy, Instant::now())
                    {
                        tracing::warn!(
                            target_name = %name,
                            cooldown_s = until.saturating_duration_since(Instant::now()).as_secs(),
                            "update target failed {} times; resting it",
                            policy.tries
                        );
                    }
                }
                let current = tokio::fs::try_exists(&path)
                    .await
                    .unwrap_or(false)
                    .then_some(path);
                tracing::warn!(
                    target = label,
                    error = %error,
                    current = current.as_deref().map(Path::display).map(tracing::field::display),
                    "update failed; keeping the current version"
                );
                UpdateOutcome::Kept {
                    path: current,
                    reason: error.to_string(),
                }
            }
        }
    }

    async fn attempt(&mut self, target: &Target) -> Result<UpdateOutcome, Failed> {
        let path = target.local_path.as_path();
        let staging = self.settings.root.staging();
        if !self.staging_swept {
            install::sweep_staging(&staging).await;
            self.staging_swept = true;
        }

        let repository = repository::load(&self.settings).await?;
        let name = target.name.clone();
        let target_name =
            TargetName::new(name.as_str()).map_err(|_| UpdateError::NoTarget(name.clone()))?;
        let found = repository
            .targets()
            .signed
            .find_target(&target_name, false)
            .map_err(|_| UpdateError::NoTarget(name.clone()))?;
        let sha256 = found.hashes.sha256.to_vec();
        let version = found
            .custom
            .get("version")
            .and_then(|v| v.as_str())
            .map(str::to_owned);

        let current = install::sha256_file(path)
            .await
            .map_err(UpdateError::io("cannot read", path))?;
        if current.as_deref() == Some(sha256.as_slice()) {
            self.failures.succeeded(&name);
            return Ok(UpdateOutcome::UpToDate {
                path: path.to_path_buf(),
            });
        }
        if let Some(until) = self.failures.cooling_until(&name, &sha256, Instant::now()) {
            return Ok(UpdateOutcome::CoolingDown { until });
        }

        tokio::fs::create_dir_all(&staging)
            .await
            .map_err(UpdateError::io("cannot create", &staging))?;
        let staged = Staging::new(&staging, &target.file_name);
        let installed = self
            .install(&repository, &target_name, target.kind, path, &staged)
            .await;
        staged.remove().await;
        match installed {
            Ok(()) => {
                self.failures.succeeded(&name);
                Ok(UpdateOutcome::Installed {
                    path: path.to_path_buf(),
                    version,
                })
            }
            Err(error) => Err(Failed {
                error,
                target: Some((name, sha256)),
            }),
        }
    }

    async fn install(
        &self,
        repository: &tough::Repository,
        name: &TargetName,
        kind: TargetKind,
        path: &Path,
        staged: &Staging,
    ) -> Result<(), UpdateError> {
        install::download(repository, name, &staged.file).await?;
        if kind == TargetKind::Archive {
            install::unpack(&staged.file, &staged.unpacked).await?;
            let destination = path.parent().unwrap_or(path);
            tokio::fs::create_dir_all(destination)
                .await
                .map_err(UpdateError::io("cannot create", destination))?;
            install::move_unpacked(&staged.unpacked, destination, &staged.replaced).await?;
        } else {
            install::make_executable(&staged.file).await?;
            // An osquery extension is no program to ask `--version`: its hash is the check.
            if kind == TargetKind::Executable {
                install::check_executable(&staged.file, install::CHECK_TIMEOUT).await?;
            }
        }
        install::rename_into_place(&staged.file, path).await
    }
}
