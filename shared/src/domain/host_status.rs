//! A host's status, defined once for the host JSON, the listing filter and the counters.
//!
//! - **online**: seen within the check-in interval plus a grace: `now - seen <= interval +
//!   SEEN_GRACE_SECS`. The interval is the smaller of the **global** agent options'
//!   `distributed_interval` and `config_tls_refresh` (a team's own options are not used: the
//!   online counters are one time window for the whole fleet, and per-host windows could not be
//!   summed from buckets; the listing uses the same window so that counts and lists agree).
//!   The grace covers the last-seen write granularity: an instance writes `SEEN` at most every
//!   5 minutes per host (`host_auth::touch_seen`), so a host that checks in every 10 s may
//!   have a stored seen time almost 5 minutes old; one more minute covers the counters'
//!   1-minute buckets and clock skew between instances.
//! - **offline**: not online (missing hosts included, as Fleet counts them).
//! - **new**: enrolled (first enrollment) within the last 24 h; orthogonal to online/offline.
//! - **missing**: not seen for 30 days.
//!
//! A host never seen since it enrolled counts as seen at its enrollment (enrollment writes its
//! `SEEN` item).

use serde_json::Value;

/// The last-seen write granularity (`host_auth::SEEN_WRITE_INTERVAL_SECS`) plus a minute.
pub const SEEN_GRACE_SECS: i64 = 300 + 60;
pub const NEW_SECS: i64 = 24 * 3600;
pub const MISSING_SECS: i64 = 30 * 24 * 3600;

/// The deployment-wide parameters of the status rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRules {
    /// Seconds between check-ins (the smaller of the two intervals).
    pub interval_secs: i64,
}

impl Default for StatusRules {
    /// osquery's defaults as Flotilla's default agent options set them.
    fn default() -> Self {
        StatusRules { interval_secs: 10 }
    }
}

impl StatusRules {
    /// From the global agent options (`config.options`); absent values keep the default.
    pub fn from_agent_options(options: &Value) -> Self {
        let opts = &options["config"]["options"];
        let read = |name: &str| opts.get(name).and_then(Value::as_i64).filter(|v| *v > 0);
        let interval = match (read("distributed_interval"), read("config_tls_refresh")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => StatusRules::default().interval_secs,
        };
        StatusRules {
            interval_secs: interval.min(24 * 3600),
        }
    }

    /// How long after its last seen time a host still counts as online.
    pub fn online_window_secs(&self) -> i64 {
        self.interval_secs + SEEN_GRACE_SECS
    }

    pub fn is_online(&self, now: i64, seen: i64) -> bool {
        now - seen <= self.online_window_secs()
    }
}

pub fn is_new(now: i64, enrolled_at: i64) -> bool {
    now - enrolled_at <= NEW_SECS
}

pub fn is_missing(now: i64, seen: i64) -> bool {
    now - seen > MISSING_SECS
}

/// The status filter of listings and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Online,
    Offline,
    New,
    Missing,
}

impl StatusFilter {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "online" => Some(StatusFilter::Online),
            "offline" => Some(StatusFilter::Offline),
            "new" => Some(StatusFilter::New),
            "missing" | "mia" => Some(StatusFilter::Missing),
            _ => None,
        }
    }

    pub fn matches(self, rules: &StatusRules, now: i64, seen: i64, enrolled_at: i64) -> bool {
        match self {
            StatusFilter::Online => rules.is_online(now, seen),
            StatusFilter::Offline => !rules.is_online(now, seen),
            StatusFilter::New => is_new(now, enrolled_at),
            StatusFilter::Missing => is_missing(now, seen),
        }
    }
}

/// `online` or `offline`, as Fleet's host `status` field says it.
pub fn label(rules: &StatusRules, now: i64, seen: i64) -> &'static str {
    if rules.is_online(now, seen) {
        "online"
    } else {
        "offline"
    }
}
