//! The Fleet Desktop token: a random UUID in `<root>/identifier` (0644, so the desktop user
//! can read it), registered with the server through `device_token`, rotated when it is an hour
//! old, and checked every few minutes with the device ping (rotated at once if refused).
//! The token is a credential that travels in URL paths: it is never logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::enrollment::{write_private, Enrollment};
use crate::orbit_api::ApiError;

pub const ROTATE_AFTER: Duration = Duration::from_secs(3600);
pub const CHECK_EVERY: Duration = Duration::from_secs(300);

/// What `check` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The server still accepts the current token.
    Valid,
    /// A new token was set (none yet, an hour old, or refused by the server).
    Rotated,
}

pub struct DeviceToken {
    enrollment: Arc<Enrollment>,
    path: PathBuf,
}

impl DeviceToken {
    pub fn new(enrollment: Arc<Enrollment>, path: PathBuf) -> Self {
        DeviceToken { enrollment, path }
    }

    /// The stored token and how old it is.
    fn stored(&self) -> Option<(String, Duration)> {
        let token = std::fs::read_to_string(&self.path).ok()?.trim().to_string();
        let modified = std::fs::metadata(&self.path).ok()?.modified().ok()?;
        let age = SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default();
        (!token.is_empty()).then_some((token, age))
    }

    /// Sets a fresh token on the server, then stores it (so the desktop app never reads a
    /// token the server does not know).
    async fn rotate(&self) -> Result<(), ApiError> {
        // A collision with another host's token (409) is astronomically unlikely; try again.
        for _ in 0..3 {
            let token = uuid::Uuid::new_v4().to_string();
            let api = self.enrollment.api().clone();
            let set = self
                .enrollment
                .call(|key| {
                    let api = api.clone();
                    let token = token.clone();
                    async move { api.set_device_token(&key, &token).await }
                })
                .await;
            match set {
                Ok(()) => {
                    write_private(&self.path, &token, 0o644).map_err(|e| {
                        ApiError::Answer(format!("cannot store the device token: {e}"))
                    })?;
                    tracing::info!("Fleet Desktop token rotated");
                    return Ok(());
                }
                Err(ApiError::Status { status: 409, .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(ApiError::Answer("three token collisions in a row".into()))
    }

    /// One round: rotate if there is no token or it is an hour old; else ping, and rotate if
    /// the server no longer accepts it.
    pub async fn check(&self) -> Result<Checked, ApiError> {
        match self.stored() {
            Some((token, age)) if age < ROTATE_AFTER => {
                if self.enrollment.api().device_token_valid(&token).await? {
                    return Ok(Checked::Valid);
                }
                tracing::info!("the server no longer accepts the Fleet Desktop token");
            }
            _ => {}
        }
        self.rotate().await.map(|()| Checked::Rotated)
    }

    /// `check` every `CHECK_EVERY`, for ever (spawn it).
    pub async fn run(self) {
        loop {
            if let Err(err) = self.check().await {
                tracing::warn!(%err, "Fleet Desktop token check failed; retrying later");
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }
}
