//! Fixed-window rate limits kept in the state store, so they hold across Lambda instances.

use super::layout;
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::{StateStore, StoreError};

/// One counter per (limit, subject, window); it expires with its window.
pub struct RateLimit {
    pub name: &'static str,
    pub max: i64,
    pub window_secs: i64,
}

/// Fleet's limit on invalid device-token requests: 720 an hour per source address.
pub const DEVICE_TOKEN_ERRORS: RateLimit = RateLimit {
    name: "device-errors",
    max: 720,
    window_secs: 3600,
};

pub enum Verdict {
    Allowed,
    /// Over the limit: retry after this many seconds.
    Limited {
        retry_after: i64,
    },
}

impl RateLimit {
    fn window(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.window_secs)
    }

    /// Limited once `earlier` events of this window already used up the limit.
    fn verdict(&self, earlier: i64, window: i64, now: i64) -> Verdict {
        if earlier >= self.max {
            Verdict::Limited {
                retry_after: (window + self.window_secs - now).max(1),
            }
        } else {
            Verdict::Allowed
        }
    }

    /// Counts one event for `subject`.
    pub async fn hit(
        &self,
        store: &dyn StateStore,
        subject: &str,
        now: i64,
    ) -> Result<Verdict, StoreError> {
        let window = self.window(now);
        let key = layout::rate_limit(self.name, subject, window);
        let count = store
            .increment(&key, 1, Some(window + self.window_secs))
            .await?;
        // This event is the count-th: allowed while it is within the limit.
        Ok(self.verdict(count - 1, window, now))
    }

    /// Counts one event for `subject` now: 429 (with when to retry) once over the limit.
    pub async fn enforce(&self, app: &AppInner, subject: &str) -> Result<(), ApiError> {
        match self.hit(app.state(), subject, app.clock.unix()).await? {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after } => Err(ApiError::TooManyRequests { retry_after }),
        }
    }

    /// Whether `subject` is already over the limit, without counting.
    pub async fn check(
        &self,
        store: &dyn StateStore,
        subject: &str,
        now: i64,
    ) -> Result<Verdict, StoreError> {
        let window = self.window(now);
        let count = store
            .get(&layout::rate_limit(self.name, subject, window))
            .await?
            .and_then(|item| item.data.get("n").and_then(|n| n.as_i64()))
            .unwrap_or(0);
        Ok(self.verdict(count, window, now))
    }
}

/// Package creation per source address: a build costs minutes of worker time.
pub const PACKAGE_CREATES: RateLimit = RateLimit {
    name: "package-creates",
    max: 60,
    window_secs: 3600,
};

/// Status polls per package: clients poll every ~10 s; this allows one every 5 s on average.
pub const PACKAGE_STATUS: RateLimit = RateLimit {
    name: "package-status",
    max: 720,
    window_secs: 3600,
};

/// Downloads per package (each hands out a URL to 20-200 MB).
pub const PACKAGE_DOWNLOADS: RateLimit = RateLimit {
    name: "package-downloads",
    max: 30,
    window_secs: 3600,
};
