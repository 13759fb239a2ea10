//! Background jobs: what goes through the queue (SQS on AWS, the embedded queue locally) and
//! what handles each kind. Delivery is at least once, so every handler may run twice.

pub mod worker;

use serde::{Deserialize, Serialize};

use crate::app::AppInner;
use crate::domain::campaign_export;
use crate::domain::carve_assembly::{self, AssemblyError};
use crate::domain::host_changes::{self, BulkAction};
use crate::domain::host_listing::HostFilter;
use crate::domain::packages::build::PackageJobError;
use crate::domain::packages::{build as package_build, notarize, sweep};
use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Upload part `part` (0-based) of carve `carve` from its blocks.
    CarvePart { carve: u64, part: u32 },
    /// Build package `package` (on the packager queue).
    BuildPackage { package: String },
    /// Delete expired packages (sent every minute by a schedule on AWS).
    SweepPackages,
    /// Ask Apple for the verdict on package `package`'s notarization (on the packager queue).
    CheckNotarization { package: String },
    /// One step of a bulk host operation by filter (`host_changes::bulk_step`); each step sends
    /// the next with its cursor.
    HostsBulk {
        #[serde(flatten)]
        action: BulkAction,
        filter: HostFilter,
        cursor: Option<String>,
    },
    /// Write export `export` (format and team scope) of campaign `campaign`'s results.
    ExportCampaign { campaign: u64, export: String },
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Not a job this version knows: retrying cannot help, so the message goes to the DLQ.
    #[error("unreadable job message: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Assembly(#[from] AssemblyError),
    #[error(transparent)]
    Package(#[from] PackageJobError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl Job {
    pub fn to_message(&self) -> Result<String, ApiError> {
        serde_json::to_string(self).map_err(|e| ApiError::Internal(e.to_string()))
    }

    pub fn from_message(body: &str) -> Result<Job, JobError> {
        serde_json::from_str(body).map_err(|e| JobError::Unreadable(e.to_string()))
    }
}

/// Runs the job a queue message holds. An error leaves the message to be delivered again.
pub async fn handle(app: &AppInner, body: &str) -> Result<(), JobError> {
    match Job::from_message(body)? {
        Job::CarvePart { carve, part } => {
            let outcome = carve_assembly::assemble_part(app, carve, part).await?;
            tracing::debug!(carve, part, ?outcome, "carve part job");
        }
        // Boxed: the packager's futures are deep (build, sign, upload, notarize), and inlined
        // into every job's future they overflow the compiler's layout depth limit.
        Job::BuildPackage { package } => Box::pin(package_build::run(app, &package)).await?,
        Job::CheckNotarization { package } => Box::pin(notarize::check(app, &package)).await?,
        Job::HostsBulk {
            action,
            filter,
            cursor,
        } => {
            let (changed, next) = host_changes::bulk_step(app, &action, &filter, cursor).await?;
            tracing::debug!(changed, more = next.is_some(), "bulk host step");
            if let Some(cursor) = next {
                // Sent before this message is acked: at least once, and a step run twice
                // finds its hosts already changed (or gone).
                let job = Job::HostsBulk {
                    action,
                    filter,
                    cursor: Some(cursor),
                };
                app.ports
                    .queue
                    .send(&job.to_message()?)
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            }
        }
        Job::ExportCampaign { campaign, export } => {
            Box::pin(campaign_export::run(app, campaign, &export)).await?
        }
        Job::SweepPackages => {
            let swept = sweep::sweep_expired(app).await?;
            tracing::debug!(swept, "package sweep job");
        }
    }
    Ok(())
}
