//! What `status` answers for a package at a given time: expiry and a stalled worker are
//! judged here, not stored, so they hold even when no sweep or worker ran.

use super::{Package, Progress, Stage, STALLED_AFTER_SECS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effective {
    InProgress(Stage),
    Success { file_name: String, size: u64 },
    Failed(String),
    Expired,
}

pub fn effective(package: &Package, now: i64) -> Effective {
    if package.expired(now) {
        return Effective::Expired;
    }
    match &package.progress {
        Progress::Success { file_name, size } => Effective::Success {
            file_name: file_name.clone(),
            size: *size,
        },
        Progress::Failed { logs } => Effective::Failed(logs.clone()),
        Progress::InProgress { stage } if now - package.updated_at > STALLED_AFTER_SECS => {
            Effective::Failed(format!(
                "the build stopped in stage {:?} without finishing (its worker timed out or \
                 crashed; the job is in the dead-letter queue). Create the package again with \
                 \"retry\": true.",
                stage.as_str()
            ))
        }
        Progress::InProgress { stage } => Effective::InProgress(*stage),
    }
}
