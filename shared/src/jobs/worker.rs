//! The local job worker: polls the queue and runs each job, as the jobs Lambda does on AWS
//! (where SQS invokes the function instead). Also sweeps expired carves, which S3 lifecycle
//! rules do on AWS, and expired packages every minute, which a schedule does on AWS.

use std::time::Duration;

use super::handle;
use crate::app::App;
use crate::domain::carve_assembly;
use crate::domain::packages::sweep;
use crate::ports::QueueError;

/// How long a received job stays hidden before it is delivered again if not acked.
pub const VISIBILITY: Duration = Duration::from_secs(120);
const BATCH: usize = 4;
const IDLE_WAIT: Duration = Duration::from_millis(200);
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
const PACKAGE_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Receives and runs jobs until the queue is empty; answers how many ran successfully.
/// Failed jobs stay on the queue for a later delivery (and the dead letters after too many).
pub async fn drain(app: &App) -> Result<usize, QueueError> {
    let mut done = 0;
    loop {
        let messages = app.ports.queue.receive(BATCH, VISIBILITY).await?;
        if messages.is_empty() {
            return Ok(done);
        }
        for message in messages {
            match handle(app, &message.body).await {
                Ok(()) => {
                    app.ports.queue.ack(&message.receipt).await?;
                    done += 1;
                }
                Err(err) => tracing::warn!(
                    %err,
                    receive_count = message.receive_count,
                    "job failed; it will be delivered again"
                ),
            }
        }
    }
}

/// Runs jobs as they arrive, forever (spawn it).
pub async fn run(app: App) {
    let mut last_sweep: Option<tokio::time::Instant> = None;
    let mut last_package_sweep: Option<tokio::time::Instant> = None;
    loop {
        if last_package_sweep.is_none_or(|at| at.elapsed() >= PACKAGE_SWEEP_EVERY) {
            last_package_sweep = Some(tokio::time::Instant::now());
            if let Err(err) = sweep::sweep_expired(&app).await {
                tracing::warn!(%err, "sweeping expired packages failed");
            }
        }
        if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            last_sweep = Some(tokio::time::Instant::now());
            match carve_assembly::sweep_expired(&app).await {
                Ok(0) => {}
                Ok(swept) => tracing::info!(swept, "expired carves deleted"),
                Err(err) => tracing::warn!(%err, "sweeping expired carves failed"),
            }
        }
        match drain(&app).await {
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "job queue unavailable"),
        }
        tokio::time::sleep(IDLE_WAIT).await;
    }
}
