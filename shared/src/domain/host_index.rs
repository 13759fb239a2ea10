//! The host listing index and the host counters, both maintained as hosts change, so that
//! listing a page, counting and summarising cost the same at 100,000 hosts as at 10.
//!
//! **Rows.** Each host has one small summary record (`HostRow`: what listing, search,
//! filtering and sorting need) stored twice in the `HOSTROW` partition: `I#<id:012>` (enroll
//! order) and `H#<lower-case host name>#<id:012>` (host-name order). A Query of that partition
//! hands rows with their data in either order, either direction (the port's `descending`), from
//! any position: one call per page for a global listing. Each row item's gsi1 entry is
//! `HOSTROW#<scope>` / the same sort key (`T<team id>` or `N` for no team), so one team's rows
//! are a partition of the index (keys only: the rows then come by BatchGetItem).
//! The row has no last-seen time: that changes every 5 minutes per host, and the agent path
//! keeps its one write of `HOST#<id>/SEEN`. That item's gsi1 entry `HOSTSEEN` /
//! `<seen:012>#<id>` is moved by DynamoDB itself on that same write, which gives the
//! last-seen order at no extra call on the agent path.
//!
//! Rows are written in the same transaction as the host change that changes them (enroll,
//! transfer, team deletion, delete) under the `I#` item's version; vitals (detail queries)
//! rewrite a row only when a listed field changed, under the same version.
//!
//! **Counters** (UpdateItem ADD, never a read of every host), incremented after the write
//! that changes what they count succeeded, so a retried request that writes nothing counts
//! nothing (an enroll retried finds the host and re-keys it: only the difference is counted):
//! - totals per scope (`A` all, `T<id>`, `N`): hosts, per platform family, per osquery version;
//! - `SEENMIN` (1-minute) and `SEENDAY` (1-day) buckets of each host's last seen time per team
//!   scope: a seen write that moves a host from bucket a to bucket b adds -1 to a and +1 to b.
//!   Online = the minute buckets inside the online window (one Query from the window start);
//!   missing = total - the day buckets of the last 30 days;
//! - `ENROLLHOUR` buckets of first enrollment per scope: new = the last 24 h of buckets.
//!
//! Buckets expire (ttl) after the longest window that reads them; a bucket older than that is
//! neither incremented nor decremented. The counters and the write they follow are not one
//! transaction (hot counters in transactions conflict under load): a crash between the two
//! leaves a count off by one, which buckets forget with their window; totals keep it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};

use super::detail_queries::Vitals;
use super::hosts::{Host, Seen};
use super::layout;
use crate::error::ApiError;
use crate::ports::{Cond, Item, Key, StateStore, StoreError, WriteOp};

/// What listing, search, filters and sorting need of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRow {
    pub id: u64,
    pub hostname: String,
    #[serde(default)]
    pub computer_name: String,
    pub uuid: String,
    #[serde(default)]
    pub hardware_serial: String,
    #[serde(default)]
    pub primary_ip: String,
    pub platform: String,
    #[serde(default)]
    pub osquery_version: String,
    pub team_id: Option<u64>,
    /// Unix seconds of the first enrollment.
    pub enrolled_at: i64,
}

/// Longest host name kept in a sort key (DynamoDB sort keys are at most 1 KiB).
const NAME_KEY_CHARS: usize = 200;

impl HostRow {
    pub fn from_host(host: &Host) -> Self {
        HostRow {
            id: host.id,
            hostname: host.hostname.clone(),
            computer_name: host.computer_name.clone(),
            uuid: host.uuid.clone(),
            hardware_serial: host.hardware_serial.clone(),
            primary_ip: String::new(),
            platform: host.platform.clone(),
            osquery_version: host.osquery_version.clone(),
            team_id: host.team_id,
            enrolled_at: host.enrolled_at.timestamp(),
        }
    }

    /// The row with what the detail queries reported (as the host JSON prefers them).
    pub fn with_vitals(&self, vitals: &Vitals) -> Self {
        let mut row = self.clone();
        for (field, value) in [
            (&mut row.hostname, &vitals.hostname),
            (&mut row.computer_name, &vitals.computer_name),
            (&mut row.platform, &vitals.platform),
            (&mut row.osquery_version, &vitals.osquery_version),
            (&mut row.hardware_serial, &vitals.hardware_serial),
            (&mut row.primary_ip, &vitals.primary_ip),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                value.clone_into(field);
            }
        }
        row
    }

    /// The name the host-name order sorts by: the host name, else the computer name.
    pub fn display_name(&self) -> &str {
        if self.hostname.is_empty() {
            &self.computer_name
        } else {
            &self.hostname
        }
    }

    pub fn name_key(&self) -> String {
        self.display_name()
            .to_lowercase()
            .chars()
            .take(NAME_KEY_CHARS)
            .collect()
    }

    fn items(&self) -> Result<[Item; 2], StoreError> {
        let scope = scope(self.team_id);
        let by_id = layout::host_row(self.id);
        let by_name = layout::host_row_by_name(&self.name_key(), self.id);
        let gsi = |key: &Key| Key::new(layout::host_rows_of(&scope), key.sk.clone());
        Ok([
            Item::encode(by_id.clone(), self)?.with_gsi1(gsi(&by_id)),
            Item::encode(by_name.clone(), self)?.with_gsi1(gsi(&by_name)),
        ])
    }
}

/// The counters' and the index's name of a team: `T<id>`, or `N` for no team.
pub fn scope(team: Option<u64>) -> String {
    match team {
        Some(id) => format!("T{id}"),
        None => "N".to_string(),
    }
}

/// The scope of every host.
pub const ALL_SCOPE: &str = "A";

/// The platform family listings filter and count by: `darwin`, `windows`, `chrome`, `linux`
/// (every other platform osquery reports), or `unknown` before any is known.
pub fn platform_family(platform: &str) -> &'static str {
    match platform {
        "" => "unknown",
        "chrome" => "chrome",
        other => super::hosts::platform_family(other),
    }
}

/// The row of host `id` and the version of its `I#` item.
pub async fn get_row(
    store: &dyn StateStore,
    id: u64,
) -> Result<Option<(HostRow, u64)>, StoreError> {
    match store.get(&layout::host_row(id)).await? {
        Some(item) => Ok(Some((item.decode()?, item.version))),
        None => Ok(None),
    }
}

/// The writes that take the index from `old` (with its version) to `new`; for a transaction
/// with the host change. The `I#` item carries the condition; the name item follows it.
pub fn row_ops(
    old: Option<(&HostRow, u64)>,
    new: Option<&HostRow>,
) -> Result<Vec<WriteOp>, StoreError> {
    let mut ops = Vec::new();
    let cond = old.map_or(Cond::NotExists, |(_, version)| Cond::Version(version));
    match new {
        Some(row) => {
            let [by_id, by_name] = row.items()?;
            ops.push(WriteOp::Put { item: by_id, cond });
            ops.push(WriteOp::Put {
                item: by_name,
                cond: Cond::None,
            });
        }
        None => {
            if old.is_some() {
                ops.push(WriteOp::Delete {
                    key: layout::host_row(old.map_or(0, |(r, _)| r.id)),
                    cond,
                });
            }
        }
    }
    if let Some((old_row, _)) = old {
        let old_name = layout::host_row_by_name(&old_row.name_key(), old_row.id);
        let kept = new.map(|row| layout::host_row_by_name(&row.name_key(), row.id));
        if kept.as_ref() != Some(&old_name) {
            ops.push(WriteOp::Delete {
                key: old_name,
                cond: Cond::None,
            });
        }
    }
    Ok(ops)
}

// ---- Counters.

/// A kind of time bucket: its width and how far back anything reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buckets {
    pub name: &'static str,
    pub width: i64,
    /// Buckets starting longer ago than this are never read (nor counted any more).
    pub horizon: i64,
}

pub(crate) const SEEN_MINUTES: Buckets = Buckets {
    name: "SEENMIN",
    width: 60,
    // The online window is at most an hour (interval) + the grace: see `host_status`.
    horizon: 2 * 3600,
};
pub(crate) const SEEN_DAYS: Buckets = Buckets {
    name: "SEENDAY",
    width: 86_400,
    horizon: 32 * 86_400,
};
pub(crate) const ENROLL_HOURS: Buckets = Buckets {
    name: "ENROLLHOUR",
    width: 3600,
    horizon: 26 * 3600,
};

impl Buckets {
    pub fn start(&self, at: i64) -> i64 {
        at.div_euclid(self.width) * self.width
    }

    /// The counter item of time `at` for `scope`, with its expiry, or None when it is past
    /// the horizon (no longer read, so no longer counted).
    fn counter(&self, now: i64, at: i64, scope: &str) -> Option<Count> {
        let start = self.start(at);
        let read_until = start + self.width + self.horizon;
        (read_until > now).then(|| Count {
            key: layout::host_bucket(self.name, start, scope),
            // A day past the last read, so a late decrement never recreates it from 0.
            expires_at: Some(read_until + 86_400),
        })
    }
}

/// One counter a host contributes 1 to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Count {
    key: Key,
    expires_at: Option<i64>,
}

fn version_label(version: &str) -> &str {
    if version.is_empty() {
        "unknown"
    } else {
        version
    }
}

/// The counters a host's row contributes to.
fn row_counts(now: i64, row: &HostRow) -> Vec<Count> {
    let team = scope(row.team_id);
    let family = platform_family(&row.platform);
    let version = version_label(&row.osquery_version);
    let mut counts = Vec::new();
    for scope in [ALL_SCOPE, team.as_str()] {
        for what in [
            "total".to_string(),
            format!("platform#{family}"),
            format!("version#{version}"),
        ] {
            counts.push(Count {
                key: layout::host_total(scope, &what),
                expires_at: None,
            });
        }
    }
    counts.extend(ENROLL_HOURS.counter(now, row.enrolled_at, &team));
    counts
}

/// The counters a host's last-seen record contributes to.
fn seen_counts(now: i64, seen: &Seen) -> Vec<Count> {
    let team = scope(seen.team_id);
    [SEEN_MINUTES, SEEN_DAYS]
        .iter()
        .filter_map(|kind| kind.counter(now, seen.seen_time, &team))
        .collect()
}

/// Host changes as counter contributions taken away and added.
#[derive(Debug, Default)]
pub(crate) struct CountChange {
    minus: Vec<Count>,
    plus: Vec<Count>,
}

impl CountChange {
    pub fn row(mut self, now: i64, old: Option<&HostRow>, new: Option<&HostRow>) -> Self {
        self.minus
            .extend(old.map(|r| row_counts(now, r)).unwrap_or_default());
        self.plus
            .extend(new.map(|r| row_counts(now, r)).unwrap_or_default());
        self
    }

    pub fn seen(mut self, now: i64, old: Option<&Seen>, new: Option<&Seen>) -> Self {
        self.minus
            .extend(old.map(|s| seen_counts(now, s)).unwrap_or_default());
        self.plus
            .extend(new.map(|s| seen_counts(now, s)).unwrap_or_default());
        self
    }

    /// The net changes, concurrently (a contribution both taken and added is no call).
    pub async fn apply(self, store: &dyn StateStore) -> Result<(), StoreError> {
        let mut net: BTreeMap<Key, (i64, Option<i64>)> = BTreeMap::new();
        for (counts, by) in [(self.minus, -1), (self.plus, 1)] {
            for count in counts {
                let entry = net.entry(count.key).or_insert((0, None));
                entry.0 += by;
                entry.1 = entry.1.max(count.expires_at);
            }
        }
        try_join_all(
            net.iter()
                .filter(|(_, (by, _))| *by != 0)
                .map(|(key, (by, expires_at))| store.increment(key, *by, *expires_at)),
        )
        .await?;
        Ok(())
    }
}

// ---- Last seen.

pub fn seen_item(id: u64, seen: &Seen) -> Result<Item, StoreError> {
    Ok(Item::encode(layout::host_seen(id), seen)?
        .with_gsi1(layout::hosts_by_seen(seen.seen_time, id)))
}

const ATTEMPTS: usize = 5;

/// Records that host `id` was seen at `now`: the one `SEEN` write of the agent path (under
/// its version, so the bucket move is counted once), then the bucket counters it moves.
pub async fn record_seen(store: &dyn StateStore, now: i64, id: u64) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS {
        let current = store.get(&layout::host_seen(id)).await?;
        let (old, new, ops) = match &current {
            Some(item) => {
                let old: Seen = item.decode()?;
                if old.seen_time >= now {
                    return Ok(());
                }
                let new = Seen {
                    seen_time: now,
                    ..old
                };
                let op = WriteOp::Put {
                    item: seen_item(id, &new)?,
                    cond: Cond::Version(item.version),
                };
                (Some(old), new, vec![op])
            }
            // A host enrolled before the index had no SEEN item: only while it exists.
            None => {
                let Some(team_id) = super::hosts::team_of(store, id).await? else {
                    return Ok(());
                };
                let new = Seen {
                    seen_time: now,
                    team_id,
                };
                let ops = vec![
                    WriteOp::Check {
                        key: layout::host(id),
                        cond: Cond::Exists,
                    },
                    WriteOp::Put {
                        item: seen_item(id, &new)?,
                        cond: Cond::NotExists,
                    },
                ];
                (None, new, ops)
            }
        };
        match store.write(ops).await {
            Ok(()) => {
                return CountChange::default()
                    .seen(now, old.as_ref(), Some(&new))
                    .apply(store)
                    .await
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Unavailable(format!(
        "host {id} last seen kept changing"
    )))
}

/// Moves host `id`'s last-seen contribution to `team_id`'s scope (after a team change).
async fn move_seen(
    store: &dyn StateStore,
    now: i64,
    id: u64,
    team_id: Option<u64>,
) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS {
        let Some(item) = store.get(&layout::host_seen(id)).await? else {
            return Ok(());
        };
        let old: Seen = item.decode()?;
        if old.team_id == team_id {
            return Ok(());
        }
        let new = Seen { team_id, ..old };
        match store
            .write(vec![WriteOp::Put {
                item: seen_item(id, &new)?,
                cond: Cond::Version(item.version),
            }])
            .await
        {
            Ok(()) => {
                return CountChange::default()
                    .seen(now, Some(&old), Some(&new))
                    .apply(store)
                    .await
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Unavailable(format!(
        "host {id} last seen kept changing"
    )))
}

// ---- Host changes.

/// After an enroll wrote `ops` for a new host: its row and first seen time are in `ops`
/// already (see `create_ops`); this counts them.
pub(crate) fn create_ops(
    host: &Host,
    now: i64,
) -> Result<(Vec<WriteOp>, HostRow, Seen), StoreError> {
    let row = HostRow::from_host(host);
    let seen = Seen {
        seen_time: now,
        team_id: host.team_id,
    };
    let mut ops = row_ops(None, Some(&row))?;
    ops.push(WriteOp::Put {
        item: seen_item(host.id, &seen)?,
        cond: Cond::NotExists,
    });
    Ok((ops, row, seen))
}

pub(crate) async fn count_created(
    store: &dyn StateStore,
    now: i64,
    row: &HostRow,
    seen: &Seen,
) -> Result<(), StoreError> {
    CountChange::default()
        .row(now, None, Some(row))
        .seen(now, None, Some(seen))
        .apply(store)
        .await
}

/// After a write that took the row from `old` to `new`: the counters, and the last-seen
/// contribution when the team changed.
pub(crate) async fn row_changed(
    store: &dyn StateStore,
    now: i64,
    old: Option<&HostRow>,
    new: &HostRow,
) -> Result<(), StoreError> {
    CountChange::default()
        .row(now, old, Some(new))
        .apply(store)
        .await?;
    if old.map(|r| r.team_id) != Some(new.team_id) {
        move_seen(store, now, new.id, new.team_id).await?;
    }
    Ok(())
}

/// Vitals arrived: rewrites the row when a listed field changed (one read when none did).
pub async fn vitals_changed(
    store: &dyn StateStore,
    now: i64,
    id: u64,
    vitals: &Vitals,
) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS {
        let Some((old, version)) = get_row(store, id).await? else {
            // Deleted meanwhile, or enrolled before the index (its next enroll writes it).
            return Ok(());
        };
        let new = old.with_vitals(vitals);
        if new == old {
            return Ok(());
        }
        match store
            .write(row_ops(Some((&old, version)), Some(&new))?)
            .await
        {
            Ok(()) => return row_changed(store, now, Some(&old), &new).await,
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Unavailable(format!(
        "host {id} row kept changing"
    )))
}

/// Moves host `id` to `team_id` (None: no team), host item and row in one transaction, when
/// `only_from` accepts its current team. Answers whether it moved (false: no such host, or
/// `only_from` refused it).
pub async fn retarget(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    id: u64,
    team_id: Option<u64>,
    only_from: impl Fn(Option<u64>) -> bool,
) -> Result<bool, ApiError> {
    let now = now.timestamp();
    for _ in 0..ATTEMPTS {
        let Some(item) = store.get(&layout::host(id)).await? else {
            return Ok(false);
        };
        let mut host: Host = item.decode()?;
        if !only_from(host.team_id) {
            return Ok(false);
        }
        host.team_id = team_id;
        let old = get_row(store, id).await?;
        let new = match &old {
            Some((row, _)) => HostRow {
                team_id,
                ..row.clone()
            },
            None => HostRow::from_host(&host),
        };
        let mut ops = vec![WriteOp::Put {
            item: Item::encode(layout::host(id), &host)?.with_gsi1(layout::hosts_index(id)),
            cond: Cond::Version(item.version),
        }];
        ops.extend(row_ops(old.as_ref().map(|(r, v)| (r, *v)), Some(&new))?);
        match store.write(ops).await {
            Ok(()) => {
                row_changed(store, now, old.as_ref().map(|(r, _)| r), &new).await?;
                return Ok(true);
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Unavailable(format!(
        "host {id} kept changing, retry"
    )))
}

/// The index's part of deleting host `id`: the writes for the delete's transaction and what
/// to count once it succeeded.
pub(crate) async fn delete_parts(
    store: &dyn StateStore,
    id: u64,
) -> Result<(Vec<WriteOp>, Option<HostRow>, Option<Seen>), StoreError> {
    let row = get_row(store, id).await?;
    let seen = match store.get(&layout::host_seen(id)).await? {
        Some(item) => Some(item.decode::<Seen>()?),
        None => None,
    };
    let ops = row_ops(row.as_ref().map(|(r, v)| (r, *v)), None)?;
    Ok((ops, row.map(|(r, _)| r), seen))
}

pub(crate) async fn count_deleted(
    store: &dyn StateStore,
    now: i64,
    row: Option<&HostRow>,
    seen: Option<&Seen>,
) -> Result<(), StoreError> {
    CountChange::default()
        .row(now, row, None)
        .seen(now, seen, None)
        .apply(store)
        .await
}

/// Many hosts without many enrolls, for benchmarks and tests: the items enrollment writes
/// (host, identity, listing rows, last seen) in transactions of 20 hosts, then the counters
/// once per distinct counter.
#[doc(hidden)]
pub mod fixtures {
    use super::*;

    #[derive(Debug, Clone, Default)]
    pub struct FixtureHost {
        pub hostname: String,
        pub uuid: String,
        pub hardware_serial: String,
        pub primary_ip: String,
        pub platform: String,
        pub osquery_version: String,
        pub team_id: Option<u64>,
        pub enrolled_at: i64,
        pub seen_time: i64,
    }

    /// `n` hosts as benchmarks and scale tests want them: names out of id order, 10% windows,
    /// 20% darwin, the rest linux, four osquery versions, enrolled over 40 days, last seen
    /// spread over three days before `now`.
    pub fn mixed_fleet(n: usize, now: i64) -> Vec<FixtureHost> {
        (0..n)
            .map(|i| FixtureHost {
                hostname: format!("host-{:06}", (i * 7919) % n.max(1)),
                uuid: format!("LIST-{i:08}"),
                hardware_serial: format!("SER{i:08}"),
                primary_ip: format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256),
                platform: match i % 10 {
                    0 => "windows",
                    1 | 2 => "darwin",
                    _ => "ubuntu",
                }
                .to_string(),
                osquery_version: format!("5.1{}.0", i % 4),
                team_id: None,
                enrolled_at: now - 86_400 * 40 + i as i64,
                seen_time: now - (i as i64 * 13) % (3 * 86_400),
            })
            .collect()
    }

    /// Writes the hosts; answers their ids, in order.
    pub async fn insert_hosts(
        store: &dyn StateStore,
        now: i64,
        hosts: &[FixtureHost],
    ) -> Result<Vec<u64>, StoreError> {
        let n = i64::try_from(hosts.len()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let last = store.increment(&layout::counter("host"), n, None).await?;
        let first = u64::try_from(last - n + 1).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut counts = CountChange::default();
        let mut ids = Vec::with_capacity(hosts.len());
        for (chunk_index, chunk) in hosts.chunks(20).enumerate() {
            let mut ops = Vec::new();
            for (i, fixture) in chunk.iter().enumerate() {
                let id = first + (chunk_index * 20 + i) as u64;
                let enrolled = DateTime::from_timestamp(fixture.enrolled_at, 0).unwrap_or_default();
                let host = Host {
                    id,
                    identifier: super::super::hosts::uuid_identity(&fixture.uuid),
                    uuid: fixture.uuid.clone(),
                    hardware_serial: fixture.hardware_serial.clone(),
                    hardware_model: String::new(),
                    hostname: fixture.hostname.clone(),
                    computer_name: fixture.hostname.clone(),
                    platform: fixture.platform.clone(),
                    platform_like: String::new(),
                    os_version: String::new(),
                    osquery_version: fixture.osquery_version.clone(),
                    team_id: fixture.team_id,
                    node_key_hash: None,
                    orbit_node_key_hash: None,
                    enrolled_at: enrolled,
                    last_enrolled_at: enrolled,
                };
                let row = HostRow {
                    primary_ip: fixture.primary_ip.clone(),
                    ..HostRow::from_host(&host)
                };
                let seen = Seen {
                    seen_time: fixture.seen_time,
                    team_id: fixture.team_id,
                };
                ops.push(WriteOp::Put {
                    item: Item::new(
                        layout::host_identity(&host.identifier),
                        serde_json::json!({ "host_id": id }),
                    ),
                    cond: Cond::NotExists,
                });
                ops.push(WriteOp::Put {
                    item: Item::encode(layout::host(id), &host)?.with_gsi1(layout::hosts_index(id)),
                    cond: Cond::NotExists,
                });
                ops.extend(row_ops(None, Some(&row))?);
                ops.push(WriteOp::Put {
                    item: seen_item(id, &seen)?,
                    cond: Cond::NotExists,
                });
                counts = counts
                    .row(now, None, Some(&row))
                    .seen(now, None, Some(&seen));
                ids.push(id);
            }
            store.write(ops).await?;
        }
        counts.apply(store).await?;
        Ok(ids)
    }
}
