//! Times as people read them ("3 minutes ago"), for the pages that show them (My device, the
//! admin UI); the exact time goes beside it for whoever wants it.

use chrono::{DateTime, Utc};

/// "3 minutes ago"; "in the future" for a clock that ran ahead.
pub fn time_ago(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    let (n, unit) = match secs {
        s if s < -60 => return "in the future".to_string(),
        s if s < 60 => return "just now".to_string(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_as_people_read_them() {
        let now = chrono::Utc::now();
        let ago = |secs| super::time_ago(now, now - chrono::Duration::seconds(secs));
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(180), "3 minutes ago");
        assert_eq!(ago(7200), "2 hours ago");
        assert_eq!(ago(86_400 * 3), "3 days ago");
        assert_eq!(ago(-3600), "in the future");
    }
}
