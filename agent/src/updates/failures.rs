//! The failure policy: a target that keeps failing (bad hash, does not run, cannot be written)
//! is not downloaded again every interval forever. After `tries` failures of the same target
//! (same sha256) it rests for `cooldown`; a different target under the same name (a new
//! release) is tried at once, and any success forgets the failures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    pub tries: u32,
    pub cooldown: Duration,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            tries: 3,
            cooldown: Duration::from_secs(24 * 60 * 60),
        }
    }
}

#[derive(Debug)]
struct Record {
    sha256: Vec<u8>,
    failures: u32,
    cooling_until: Option<Instant>,
}

/// Failures per target name. In memory only: a restarted agent tries again, which is what a
/// restart after a fix should do.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    records: HashMap<String, Record>,
}

impl Failures {
    /// `Some(until)` while this exact target is resting.
    pub(crate) fn cooling_until(
        &mut self,
        target: &str,
        sha256: &[u8],
        now: Instant,
    ) -> Option<Instant> {
        let record = self.records.get(target)?;
        if record.sha256 != sha256 {
            return None;
        }
        match record.cooling_until {
            Some(until) if now < until => Some(until),
            Some(_) => {
                // The rest is over: the target gets a fresh set of tries.
                self.records.remove(target);
                None
            }
            None => None,
        }
    }

    /// Counts a failure; returns when the target starts resting, if this failure was the last
    /// allowed one.
    pub(crate) fn failed(
        &mut self,
        target: &str,
        sha256: &[u8],
        policy: FailurePolicy,
        now: Instant,
    ) -> Option<Instant> {
        let record = self
            .records
            .entry(target.to_owned())
            .or_insert_with(|| Record {
                sha256: sha256.to_vec(),
                failures: 0,
                cooling_until: None,
            });
        if record.sha256 != sha256 {
            *record = Record {
                sha256: sha256.to_vec(),
                failures: 0,
                cooling_until: None,
            };
        }
        record.failures = record.failures.saturating_add(1);
        if record.failures >= policy.tries.max(1) {
            let until = now + policy.cooldown;
            record.cooling_until = Some(until);
            return Some(until);
        }
        None
    }

    pub(crate) fn succeeded(&mut self, target: &str) {
        self.records.remove(target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: FailurePolicy = FailurePolicy {
        tries: 3,
        cooldown: Duration::from_secs(60),
    };

    #[test]
    fn third_failure_of_one_target_starts_the_cooldown() {
        let mut failures = Failures::default();
        let now = Instant::now();
        assert_eq!(failures.failed("t", b"a", POLICY, now), None);
        assert_eq!(failures.cooling_until("t", b"a", now), None);
        assert_eq!(failures.failed("t", b"a", POLICY, now), None);
        let until = failures.failed("t", b"a", POLICY, now);
        assert_eq!(until, Some(now + POLICY.cooldown));
        assert_eq!(failures.cooling_until("t", b"a", now), until);
        // Another release under the same name is not held back by the old one's failures.
        assert_eq!(failures.cooling_until("t", b"b", now), None);
        // Once the rest is over the target gets three new tries.
        let later = now + POLICY.cooldown;
        assert_eq!(failures.cooling_until("t", b"a", later), None);
        assert_eq!(failures.failed("t", b"a", POLICY, later), None);
    }

    #[test]
    fn a_new_target_or_a_success_resets_the_count() {
        let mut failures = Failures::default();
        let now = Instant::now();
        failures.failed("t", b"a", POLICY, now);
        failures.failed("t", b"a", POLICY, now);
        // A new release: counting starts over.
        assert_eq!(failures.failed("t", b"b", POLICY, now), None);
        assert_eq!(failures.failed("t", b"b", POLICY, now), None);
        failures.succeeded("t");
        assert_eq!(failures.failed("t", b"b", POLICY, now), None);
        assert_eq!(failures.failed("t", b"b", POLICY, now), None);
        assert!(failures.failed("t", b"b", POLICY, now).is_some());
    }
}
