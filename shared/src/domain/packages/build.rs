//! The worker's job for one package: fetch the targets, build, upload, with each stage
//! recorded as it is entered. A build that cannot succeed (no such target, a dead update
//! server, bad metadata) ends as `fail` with readable logs; a store that is unavailable
//! returns an error so the queue delivers the job again. A second delivery of a finished
//! package does nothing.

use std::path::{Path, PathBuf};

use packager::kind::PackageType;

use super::request::PackageArgs;
use super::status::{effective, Effective};
use super::targets::{self, TargetsError};
use super::{load, save, Package, Progress, Stage};
use super::{notarize, signing};
use crate::app::AppInner;
use crate::domain::blob_files::{self, TransferError};
use crate::error::ApiError;
use crate::ports::{BlobError, SecretError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PackageJobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Notary(#[from] packager::notary::NotaryError),
    #[error(transparent)]
    Queue(#[from] crate::ports::QueueError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Why a build failed, for the package's logs.
#[derive(Debug, thiserror::Error)]
pub enum BuildFailure {
    #[error("the build's arguments are gone (the package expired before it was built)")]
    NoArguments,
    #[error("the build's arguments are unreadable: {0}")]
    BadArguments(String),
    #[error(transparent)]
    Targets(#[from] TargetsError),
    #[error("building: {0}")]
    Build(String),
    #[error("uploading: {0}")]
    Upload(#[from] TransferError),
    #[error("scratch space: {0}")]
    Scratch(std::io::Error),
    #[error("the {0} secret {1:?} does not exist")]
    MissingSecret(&'static str, String),
    #[error("signing: {0}")]
    Sign(String),
    #[error("notarizing: {0}")]
    Notarize(String),
}

/// How a build ends, when it does not succeed.
pub enum Step {
    /// The package changed under us (expired, swept or finished by another delivery).
    Abandoned,
    /// A store (state or blobs) is unavailable: the job is delivered again.
    Retry(PackageJobError),
    /// The build cannot succeed: recorded as `fail` with the logs.
    Failed(BuildFailure),
}

impl From<StoreError> for Step {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::ConditionFailed => Step::Abandoned,
            other => Step::Retry(other.into()),
        }
    }
}

impl From<std::convert::Infallible> for Step {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<BuildFailure> for Step {
    fn from(err: BuildFailure) -> Self {
        Step::Failed(err)
    }
}

impl From<TargetsError> for Step {
    fn from(err: TargetsError) -> Self {
        Step::Failed(err.into())
    }
}

impl From<TransferError> for Step {
    fn from(err: TransferError) -> Self {
        Step::Failed(err.into())
    }
}

/// Reads the secret `name`: a missing secret is a failed build, an unavailable store a retry.
pub(super) async fn secret(app: &AppInner, name: &str, what: &'static str) -> Result<String, Step> {
    match app.ports.secrets.get(name).await {
        Ok(value) => Ok(value),
        Err(SecretError::NotFound(_)) => Err(Step::Failed(BuildFailure::MissingSecret(
            what,
            name.to_string(),
        ))),
        Err(err @ SecretError::Unavailable(_)) => Err(Step::Retry(err.into())),
    }
}

/// A package being worked on, with the version of its record we last read or wrote.
pub(super) struct Run<'a> {
    pub app: &'a AppInner,
    pub package: Package,
    version: u64,
}

impl<'a> Run<'a> {
    /// The package, if it is still in progress (not finished, expired or given up on).
    pub async fn load(app: &'a AppInner, id: &str) -> Result<Option<Run<'a>>, StoreError> {
        let Some((package, version)) = load(app.ports.state.as_ref(), id).await? else {
            tracing::info!(package = %id, "package job for an unknown package: dropped");
            return Ok(None);
        };
        if !matches!(
            effective(&package, app.clock.unix()),
            Effective::InProgress(_)
        ) {
            return Ok(None);
        }
        Ok(Some(Run {
            app,
            package,
            version,
        }))
    }

    /// Records `progress`, if nobody else changed the package since we last wrote it.
    pub async fn record(&mut self, progress: Progress) -> Result<(), StoreError> {
        let mut next = self.package.clone();
        next.progress = progress;
        self.save(next).await
    }

    /// Writes `next` (stamped now), if nobody else changed the package since we last wrote it.
    pub async fn save(&mut self, mut next: Package) -> Result<(), StoreError> {
        next.updated_at = self.app.clock.unix();
        save(self.app.ports.state.as_ref(), &next, self.version).await?;
        self.package = next;
        self.version += 1;
        Ok(())
    }

    pub async fn stage(&mut self, stage: Stage) -> Result<(), StoreError> {
        tracing::info!(package = %self.package.id, stage = stage.as_str(), "package stage");
        self.record(Progress::InProgress { stage }).await
    }
}

pub async fn run(app: &AppInner, id: &str) -> Result<(), PackageJobError> {
    // Finished (by an earlier delivery), expired or given up on: nothing to do.
    let Some(mut run) = Run::load(app, id).await? else {
        return Ok(());
    };
    let scratch = tempfile::Builder::new()
        .prefix("flotilla-package-")
        .tempdir()
        .map_err(|e| ApiError::Internal(format!("scratch directory: {e}")))?;
    let mut log = Vec::new();
    let outcome = steps(&mut run, scratch.path(), &mut log).await;
    finish(&mut run, outcome, log).await
}

/// Records how a step of the package's work ended: nothing more on success, `fail` with the
/// logs when it cannot succeed; an error when the job must be delivered again.
pub(super) async fn finish(
    run: &mut Run<'_>,
    outcome: Result<(), Step>,
    mut log: Vec<String>,
) -> Result<(), PackageJobError> {
    let id = run.package.id.clone();
    match outcome {
        Ok(()) => Ok(()),
        Err(Step::Abandoned) => {
            tracing::info!(package = %id, "package changed during its build; stopped");
            Ok(())
        }
        Err(Step::Retry(err)) => Err(err),
        Err(Step::Failed(failure)) => {
            log.push(format!("error: {failure}"));
            tracing::warn!(package = %id, error = %failure, "package build failed");
            match run
                .record(Progress::Failed {
                    logs: log.join("\n"),
                })
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
                Err(other) => Err(other.into()),
            }
        }
    }
}

async fn steps(run: &mut Run<'_>, scratch: &Path, log: &mut Vec<String>) -> Result<(), Step> {
    let app = run.app;
    let id = run.package.id.clone();
    if run.package.notarization.is_some() {
        // Submitted by an earlier delivery that failed to schedule the check: just schedule it.
        return notarize::schedule_check(app, &id).await;
    }
    run.stage(Stage::FetchingTargets).await?;
    let args = match app.ports.blobs.get(&Package::request_blob(&id)).await {
        Ok(bytes) => serde_json::from_slice::<PackageArgs>(&bytes)
            .map_err(|e| BuildFailure::BadArguments(e.to_string()))?,
        Err(BlobError::NotFound) => return Err(BuildFailure::NoArguments.into()),
        Err(err @ BlobError::Unavailable(_)) => return Err(Step::Retry(err.into())),
        Err(other) => return Err(TransferError::from(other).into()),
    };
    let mut built = build_file(app, &args, scratch, log, || run.stage(Stage::Building)).await?;
    let pkg = args.kind() == Some(PackageType::Pkg);
    let settings = &app.settings.packager;
    if pkg && settings.signing_secret.is_some() {
        run.stage(Stage::Signing).await?;
        built = signing::sign_file(app, built, scratch, log).await?;
    }

    run.stage(Stage::Uploading).await?;
    let blob = run.package.file_blob(&built.file_name);
    let size = blob_files::upload(app.ports.blobs.as_ref(), &blob, &built.path).await?;
    if pkg && settings.notary_secret.is_some() {
        return notarize::submit(run, built, size, log).await;
    }
    let file_name = built.file_name;
    run.record(Progress::Success { file_name, size }).await?;
    tracing::info!(package = %id, size, "package built");
    Ok(())
}

/// A built installer in the scratch directory.
pub struct Built {
    pub path: PathBuf,
    pub file_name: String,
}

/// Fetches the targets and builds the installer `args` asks for into `scratch` (the worker's
/// and `flotilla-local package`'s common part). `building` is awaited between the two.
pub async fn build_file<F, Fut, E>(
    app: &AppInner,
    args: &PackageArgs,
    scratch: &Path,
    log: &mut Vec<String>,
    building: F,
) -> Result<Built, Step>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    Step: From<E>,
{
    let Some(kind) = args.kind() else {
        let unknown = format!("unknown type {:?}", args.kind);
        return Err(BuildFailure::BadArguments(unknown).into());
    };
    let targets = targets::fetch(app, args, kind, scratch, log).await?;
    building().await?;
    let file_name = kind.file_name(&targets.version);
    let path = scratch.join(&file_name);
    build_blocking(kind, args.clone(), targets, scratch, &path).await?;
    log.push(format!("built {file_name}"));
    Ok(Built { path, file_name })
}

/// The builders do synchronous file I/O and compression: off the async runtime.
async fn build_blocking(
    kind: PackageType,
    args: PackageArgs,
    targets: packager::options::Targets,
    scratch: &Path,
    out: &Path,
) -> Result<(), BuildFailure> {
    let build_dir = scratch.join("build");
    std::fs::create_dir_all(&build_dir).map_err(BuildFailure::Scratch)?;
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || {
        packager::build::build(kind, &args.options(), &targets, &build_dir, &out)
            .map_err(|e| BuildFailure::Build(e.to_string()))
    })
    .await
    .map_err(|e| BuildFailure::Build(format!("builder stopped: {e}")))?
}
