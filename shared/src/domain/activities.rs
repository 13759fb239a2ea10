//! The activity log: an audit trail of admin actions, listed newest first in Fleet's shape.
//!
//! Writes come in bursts (a script creating users, a storm of failed logins: 100 a second)
//! while reads are rare (an admin paging through the feed), so the layout favours writes:
//!
//! - **Month buckets, four shards each** (`ACTIVITY#<yyyy-mm>#<0..3>`). One DynamoDB partition
//!   key takes at most 1,000 write units a second, an item of a transaction costs two per KB,
//!   and details can weigh a few KB (a team spec): 100 a second on one key could throttle. The
//!   shard is the id's random low bits, so writers never coordinate and the key follows from
//!   the id. The bucket length does not change how hot a key is (every current write lands in
//!   the current bucket, whatever its length), only how many empty buckets a listing walks: a
//!   quiet deployment fills a page from a month or two (4 to 8 Queries), not from weeks of days.
//! - **Newest first in the sort key**: `MAX_ID - id`, zero-padded, because the port only
//!   queries in ascending order. So a cursor or `until` starts each Query exactly where it
//!   should (`start_after` need not name an existing item) and `since` ends it: time filters
//!   read only the window, buckets give no precision that the sort key does not already give.
//! - **A listing** reads a bucket's shards concurrently, each up to the page size, merges them,
//!   and goes on to older buckets until it has one activity more than the page (so that `next`
//!   is None exactly at the end), reaches `since`, or reaches the retention horizon (anything
//!   older has expired). An empty log costs at most 4 × (retention in months + 2) Queries.
//! - **Ids** are Unix milliseconds << 11 | 11 random bits: time-ordered, no counter item, and
//!   below 2^53 (JSON clients read numbers as doubles) until 2109. Two activities of the same
//!   millisecond draw the same bits once in 2,048 times: the record is written on condition
//!   that its key is free and redrawn if not, and as the id fixes the key, ids are unique.
//! - **Filters** have index entries, written in the same atomic write as the record: by actor
//!   (users), by type, by both. Each filter then reads one partition per month holding only
//!   matches, so a page costs what the page holds, whatever the rest of the log. Entries only
//!   name the record (fetched with BatchGetItem): writes are the common path, and the details
//!   are written once. They are under 1 KB, so an index key is not sharded: one type at 100 a
//!   second uses a fifth of a partition.
//! - **Retention**: every item expires `retention_days` after the activity, so DynamoDB's TTL
//!   (or the embedded store) drops the log without a sweep; expired items read as absent.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cmp::Reverse;

use super::layout;
use crate::ports::state::batch_get_all;
use crate::ports::{Cond, Item, Key, Query, StateStore, StoreError, WriteOp};

/// Ids stay below 2^53, the largest integer a JSON client reading doubles holds exactly.
pub const MAX_ID: u64 = (1 << 53) - 1;
/// The low bits of an id drawn at random (the rest are Unix milliseconds).
const RANDOM_BITS: u32 = 11;
/// The last millisecond an id can hold (in 2109).
const MAX_MS: i64 = (1 << (53 - RANDOM_BITS)) - 1;
/// An exclusive upper bound on ids that excludes none.
const NO_UPPER_BOUND: u64 = MAX_ID + 1;
/// Shards of each month's log partition (see the module doc).
const SHARDS: u64 = 4;
/// A page holds at most this many activities.
pub const MAX_LIMIT: usize = 500;
/// Retention is clamped to 1..=MAX_RETENTION_DAYS: 0 would write items that are expired at
/// once, and the horizon is what bounds the buckets a listing may walk.
pub const MAX_RETENTION_DAYS: u32 = 3660;
/// Types go into partition keys: Fleet's names (`created_user`) fit, `#` and the like do not.
pub const MAX_KIND_LEN: usize = 64;
/// Writes tried with fresh random bits before giving up (a clash is 1 in 2,048 per pair of
/// activities of the same millisecond, so a second try is already rare).
const ATTEMPTS: usize = 8;
/// Instances' clocks differ a little: a listing also looks this far past its own `now`, so that
/// an activity another instance just wrote is not skipped at the turn of a month.
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// A cursor is ~30 characters; anything much longer is not one (and is not decoded).
const MAX_CURSOR_LEN: usize = 128;
const MS_PER_DAY: i64 = 86_400_000;
/// `actor_full_name` of the deployment's break-glass token, as the feed shows it.
pub const BREAK_GLASS_NAME: &str = "break-glass admin token";

/// Who did it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    User {
        id: u64,
        name: String,
        email: String,
    },
    /// The deployment's break-glass admin token (Secrets Manager).
    BreakGlass,
    /// No authenticated actor (e.g. a failed login: details carry the attempted email).
    Anonymous,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub actor: Actor,
    /// Fleet's activity type names where Fleet has one, e.g. "user_logged_in",
    /// "user_failed_login", "created_user", "deleted_user", "changed_user_global_role",
    /// "created_team", "applied_spec_team", "edited_enroll_secrets", "edited_agent_options",
    /// "created_saved_query", "deleted_saved_query", "live_query", "deleted_host",
    /// "created_package". At most MAX_KIND_LEN of `a-z`, `0-9` and `_`.
    pub kind: String,
    /// What it acted on, e.g. {"user_id": 3}: never a secret or password (the caller's duty).
    /// Keep it small: the record is one item, and DynamoDB holds at most 400 KB in one.
    pub details: Value,
    pub source_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: u64,
    /// Whole milliseconds: the ones the id holds, so that id order is time order.
    pub created_at: DateTime<Utc>,
    pub actor: Actor,
    pub kind: String,
    pub details: Value,
    pub source_ip: Option<String>,
}

impl Activity {
    /// Fleet's shape: {id, created_at (RFC 3339), actor_id, actor_full_name, actor_email,
    /// type, details, source_ip}.
    pub fn to_json(&self) -> Value {
        let (actor_id, actor_full_name, actor_email) = match &self.actor {
            Actor::User { id, name, email } => (json!(id), json!(name), json!(email)),
            Actor::BreakGlass => (Value::Null, json!(BREAK_GLASS_NAME), Value::Null),
            Actor::Anonymous => (Value::Null, Value::Null, Value::Null),
        };
        json!({
            "id": self.id,
            "created_at": self.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "actor_id": actor_id,
            "actor_full_name": actor_full_name,
            "actor_email": actor_email,
            "type": self.kind,
            "details": self.details,
            "source_ip": self.source_ip,
        })
    }
}

/// Which activities a listing returns; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this user's actions.
    pub actor_id: Option<u64>,
    /// Only activities of this type.
    pub kind: Option<String>,
    /// created_at >= since, created_at < until.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("invalid cursor")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records the activity at `now` (to the millisecond) and returns it: one atomic write of the
/// record and its index entries.
pub async fn record(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    retention_days: u32,
    new: NewActivity,
) -> Result<Activity, StoreError> {
    if !valid_kind(&new.kind) {
        // A programming error (types are constants), refused before it reaches a key.
        return Err(StoreError::Corrupt(format!(
            "activity type {:?} is not 1 to {MAX_KIND_LEN} of a-z, 0-9 and _",
            new.kind
        )));
    }
    let ms = now.timestamp_millis();
    if !(0..=MAX_MS).contains(&ms) {
        return Err(StoreError::Corrupt(format!(
            "{now} is outside the times an activity id can hold"
        )));
    }
    let mut activity = Activity {
        id: 0,
        created_at: ms_time(ms),
        actor: new.actor,
        kind: new.kind,
        details: new.details,
        source_ip: new.source_ip,
    };
    let expires_at =
        activity.created_at.timestamp() + i64::from(retention(retention_days)) * 86_400;
    for _ in 0..ATTEMPTS {
        activity.id = make_id(ms, rand::random());
        match store.write(record_ops(&activity, expires_at)?).await {
            Ok(()) => return Ok(activity),
            // Another activity of this millisecond drew the same bits: draw again.
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::ConditionFailed)
}

/// The activity with this id, unless it expired.
pub async fn get(store: &dyn StateStore, id: u64) -> Result<Option<Activity>, StoreError> {
    if id > MAX_ID {
        return Ok(None);
    }
    match store.get(&record_key(id)).await? {
        Some(item) => item.decode().map(Some),
        None => Ok(None),
    }
}

/// Newest first. `cursor` is the opaque `next` of the previous page. Returns the page and the
/// next cursor (None at the end). Only activities within the current retention are listed.
/// A cursor only says "older than the last one shown", so it is not tied to its filter.
pub async fn list(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    retention_days: u32,
    filter: &Filter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<Activity>, Option<String>), ListError> {
    let before = cursor.map(decode_cursor).transpose()?;
    let limit = limit.clamp(1, MAX_LIMIT);
    let source = match (filter.actor_id, filter.kind.as_deref()) {
        // No activity can have a type that could not be recorded.
        (_, Some(kind)) if !valid_kind(kind) => return Ok((Vec::new(), None)),
        (None, None) => Source::Log,
        (Some(actor), None) => Source::ByActor(actor),
        (None, Some(kind)) => Source::ByType(kind),
        (Some(actor), Some(kind)) => Source::ByActorType(actor, kind),
    };
    let Some(window) = Window::new(now, retention_days, filter, before) else {
        return Ok((Vec::new(), None));
    };
    // One more than the page, to know whether a next page exists.
    let wanted = limit + 1;
    let mut found: Vec<(u64, Item)> = Vec::with_capacity(wanted);
    let mut month = window.newest;
    while month >= window.oldest && found.len() < wanted {
        let need = wanted - found.len();
        let lanes = source
            .partitions(&month.label())
            .into_iter()
            .map(|partition| read_partition(store, partition, &window, need));
        let mut merged: Vec<(u64, Item)> =
            try_join_all(lanes).await?.into_iter().flatten().collect();
        // Each shard gave its newest `need` (or all it has in the window): the newest `need`
        // of their union are the bucket's; older buckets only hold smaller ids.
        merged.sort_unstable_by_key(|(id, _)| Reverse(*id));
        merged.truncate(need);
        found.extend(merged);
        month = month.previous();
    }
    let more = found.len() > limit;
    found.truncate(limit);
    let next = match found.last() {
        Some((id, _)) if more => Some(encode_cursor(*id)),
        _ => None,
    };
    let activities = match source {
        Source::Log => found
            .iter()
            .map(|(_, item)| item.decode())
            .collect::<Result<Vec<Activity>, _>>()?,
        _ => records_named_by(store, &found).await?,
    };
    Ok((activities, next))
}

/// The records the index entries name, newest first.
async fn records_named_by(
    store: &dyn StateStore,
    entries: &[(u64, Item)],
) -> Result<Vec<Activity>, StoreError> {
    let keys: Vec<Key> = entries.iter().map(|(id, _)| record_key(*id)).collect();
    let mut activities = batch_get_all(store, &keys)
        .await?
        .iter()
        .map(Item::decode)
        .collect::<Result<Vec<Activity>, _>>()?;
    if activities.len() != keys.len() {
        // Written in one transaction with the same expiry, so this should not happen: the
        // page is short rather than wrong.
        tracing::warn!(
            entries = keys.len(),
            records = activities.len(),
            "activity index entries without their record"
        );
    }
    activities.sort_unstable_by_key(|a| Reverse(a.id));
    Ok(activities)
}

/// The partition family a listing reads: the log itself, or the index of its filter.
enum Source<'a> {
    Log,
    ByActor(u64),
    ByType(&'a str),
    ByActorType(u64, &'a str),
}

impl Source<'_> {
    fn partitions(&self, month: &str) -> Vec<String> {
        match *self {
            Source::Log => (0..SHARDS)
                .map(|shard| layout::activities_partition(month, shard))
                .collect(),
            Source::ByActor(actor) => vec![layout::activities_by_actor_partition(actor, month)],
            Source::ByType(kind) => vec![layout::activities_by_type_partition(kind, month)],
            Source::ByActorType(actor, kind) => {
                vec![layout::activities_by_actor_type_partition(
                    actor, kind, month,
                )]
            }
        }
    }
}

/// The ids a listing may return, and the month buckets that can hold them.
#[derive(Debug, PartialEq)]
struct Window {
    /// Inclusive: `since`, or the retention horizon when later.
    lo: u64,
    /// Exclusive: the cursor's last id, or `until` when earlier; NO_UPPER_BOUND when neither.
    hi: u64,
    newest: Month,
    oldest: Month,
}

impl Window {
    /// None when nothing can match (an empty or inverted range).
    fn new(
        now: DateTime<Utc>,
        retention_days: u32,
        filter: &Filter,
        before: Option<u64>,
    ) -> Option<Window> {
        // Anything recorded before the horizon has expired (a second early: expiry is in
        // whole seconds, and an extra second costs nothing).
        let horizon_ms = (now.timestamp() - 1)
            .saturating_mul(1000)
            .saturating_sub(i64::from(retention(retention_days)) * MS_PER_DAY);
        let since_ms = filter.since.map_or(i64::MIN, ceil_ms);
        let lo = first_id_at(horizon_ms.max(since_ms));
        let until = filter
            .until
            .map_or(NO_UPPER_BOUND, |t| first_id_at(ceil_ms(t)));
        let hi = before.unwrap_or(NO_UPPER_BOUND).min(until);
        if lo >= hi {
            return None;
        }
        let newest_ms = id_ms(hi - 1).min(now.timestamp_millis().saturating_add(CLOCK_SKEW_MS));
        let newest = Month::of(DateTime::from_timestamp_millis(newest_ms)?);
        let oldest = Month::of(ms_time(id_ms(lo)));
        (newest >= oldest).then_some(Window {
            lo,
            hi,
            newest,
            oldest,
        })
    }

    /// Where a Query of any partition starts: just after the exclusive upper bound.
    fn start(&self, partition: &str) -> Option<Key> {
        (self.hi <= MAX_ID).then(|| layout::activity_entry(partition.to_string(), MAX_ID - self.hi))
    }
}

/// The newest `need` items of one partition within the window (fewer when it holds fewer),
/// newest first, with their ids.
async fn read_partition(
    store: &dyn StateStore,
    partition: String,
    window: &Window,
    need: usize,
) -> Result<Vec<(u64, Item)>, StoreError> {
    let mut found = Vec::new();
    let mut after = window.start(&partition);
    // Several Queries only when a page holds fewer items than asked: expired ones (dropped
    // by the store but counted by its limit) or DynamoDB's 1 MB page.
    loop {
        let query = Query::partition(partition.as_str())
            .limit(need - found.len())
            .after(after.take());
        let page = store.query(&query).await?;
        for item in page.items {
            let id = id_of_sort_key(&item.key.sk).ok_or_else(|| {
                StoreError::Corrupt(format!("activity key {}/{}", item.key.pk, item.key.sk))
            })?;
            if id < window.lo {
                return Ok(found);
            }
            found.push((id, item));
        }
        if found.len() >= need {
            return Ok(found);
        }
        match page.next {
            // Past `since` or the horizon already (perhaps over expired items): stop.
            Some(next) if id_of_sort_key(&next.sk).is_some_and(|id| id > window.lo) => {
                after = Some(next)
            }
            _ => return Ok(found),
        }
    }
}

/// The record and its index entries, all expiring together; the record only if its key is
/// free (the id is unique).
fn record_ops(activity: &Activity, expires_at: i64) -> Result<Vec<WriteOp>, StoreError> {
    let month = Month::of(activity.created_at).label();
    let inverted = MAX_ID - activity.id;
    let mut indexes = vec![layout::activities_by_type_partition(&activity.kind, &month)];
    if let Actor::User { id, .. } = activity.actor {
        indexes.push(layout::activities_by_actor_partition(id, &month));
        indexes.push(layout::activities_by_actor_type_partition(
            id,
            &activity.kind,
            &month,
        ));
    }
    let mut ops = vec![WriteOp::Put {
        item: Item::encode(record_key(activity.id), activity)?.with_expiry(expires_at),
        cond: Cond::NotExists,
    }];
    ops.extend(indexes.into_iter().map(|partition| {
        WriteOp::Put {
            // The key names the activity; the id in the data only helps a human reading the table.
            item: Item::new(
                layout::activity_entry(partition, inverted),
                json!({ "id": activity.id }),
            )
            .with_expiry(expires_at),
            cond: Cond::None,
        }
    }));
    Ok(ops)
}

/// The record's key, which follows from the id alone: its month, shard and sort key.
fn record_key(id: u64) -> Key {
    let month = Month::of(ms_time(id_ms(id))).label();
    layout::activity_entry(
        layout::activities_partition(&month, id % SHARDS),
        MAX_ID - id,
    )
}

fn make_id(ms: i64, random: u64) -> u64 {
    // Callers check 0 <= ms <= MAX_MS, so the shift stays below 2^53.
    ((ms.clamp(0, MAX_MS) as u64) << RANDOM_BITS) | (random & ((1 << RANDOM_BITS) - 1))
}

fn id_ms(id: u64) -> i64 {
    // id <= 2^53, so its millisecond part fits an i64 with room to spare.
    (id >> RANDOM_BITS) as i64
}

/// The smallest id of millisecond `ms` (0 before 1970, NO_UPPER_BOUND after 2109).
fn first_id_at(ms: i64) -> u64 {
    (ms.clamp(0, MAX_MS + 1) as u64) << RANDOM_BITS
}

fn id_of_sort_key(sk: &str) -> Option<u64> {
    if sk.len() != 16 || !sk.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    MAX_ID.checked_sub(sk.parse().ok()?)
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    // Ids hold at most 42 bits of milliseconds, well inside chrono's range.
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The first whole millisecond at or after `t`: created_at (whole milliseconds) >= t exactly
/// when created_at >= ceil_ms(t), and < t exactly when < ceil_ms(t).
fn ceil_ms(t: DateTime<Utc>) -> i64 {
    let ms = t.timestamp_millis();
    if t.timestamp_subsec_nanos() % 1_000_000 == 0 {
        ms
    } else {
        ms.saturating_add(1)
    }
}

fn retention(days: u32) -> u32 {
    days.clamp(1, MAX_RETENTION_DAYS)
}

/// Whether `kind` can be an activity type (1 to MAX_KIND_LEN of a-z, 0-9 and _).
pub fn valid_kind(kind: &str) -> bool {
    (1..=MAX_KIND_LEN).contains(&kind.len())
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A UTC calendar month: the log's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Month {
    year: i32,
    month: u32,
}

impl Month {
    fn of(t: DateTime<Utc>) -> Month {
        Month {
            year: t.year(),
            month: t.month(),
        }
    }

    fn previous(self) -> Month {
        if self.month <= 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

/// What a cursor holds: the last id of the page it follows (the next page starts below it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    before: u64,
}

fn encode_cursor(before: u64) -> String {
    URL_SAFE_NO_PAD.encode(json!({ "before": before }).to_string())
}

fn decode_cursor(cursor: &str) -> Result<u64, ListError> {
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(ListError::BadCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| ListError::BadCursor)?;
    let Cursor { before } = serde_json::from_slice(&bytes).map_err(|_| ListError::BadCursor)?;
    if before == 0 || before > MAX_ID {
        return Err(ListError::BadCursor);
    }
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        for id in [1, 12_345, MAX_ID] {
            let cursor = encode_cursor(id);
            assert!(cursor.len() <= MAX_CURSOR_LEN);
            assert!(cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(decode_cursor(&cursor).expect("decodes"), id);
        }
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let bad = [
            String::new(),
            "garbage!".to_string(),
            "%%%%".to_string(),
            b64("not json"),
            b64("{}"),
            b64(r#"{"before":"12"}"#),
            b64(r#"{"before":-1}"#),
            b64(r#"{"before":0}"#),
            b64(&format!(r#"{{"before":{}}}"#, MAX_ID + 1)),
            b64(r#"{"before":5,"extra":1}"#),
            b64(r#"{"before":1e3}"#),
            "a".repeat(10_000),
            format!("{}==", encode_cursor(7)),
        ];
        for cursor in bad {
            assert!(
                matches!(decode_cursor(&cursor), Err(ListError::BadCursor)),
                "{cursor:?} accepted"
            );
        }
    }

    #[test]
    fn ids_hold_the_millisecond_and_stay_below_2_pow_53() {
        let now = at(2025, 6, 1, 12) + chrono::Duration::milliseconds(345);
        let ms = now.timestamp_millis();
        let id = make_id(ms, u64::MAX);
        assert_eq!(id_ms(id), ms);
        assert_eq!(ms_time(id_ms(id)), now);
        assert_eq!(id & ((1 << RANDOM_BITS) - 1), (1 << RANDOM_BITS) - 1);
        assert_eq!(make_id(ms, 0), first_id_at(ms));
        // Later milliseconds give larger ids whatever the random bits.
        assert!(make_id(ms + 1, 0) > make_id(ms, u64::MAX));
        // The last representable millisecond is in 2109 and still below 2^53.
        assert_eq!(make_id(MAX_MS, u64::MAX), MAX_ID);
        assert_eq!(ms_time(MAX_MS).year(), 2109);
        assert_eq!(first_id_at(MAX_MS + 10), NO_UPPER_BOUND);
        assert_eq!(first_id_at(-5), 0);
    }

    #[test]
    fn newer_ids_sort_first_and_keys_follow_from_the_id() {
        let ms = at(2025, 6, 1, 0).timestamp_millis();
        let ids = [
            make_id(ms, 3),
            make_id(ms, 900),
            make_id(ms + 1, 0),
            make_id(ms + 86_400_000, 7),
            make_id(MAX_MS, 0),
            1,
        ];
        let mut by_sort_key = ids.to_vec();
        by_sort_key.sort_by_key(|id| layout::activity_sort_key(MAX_ID - id));
        let mut newest_first = ids.to_vec();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(by_sort_key, newest_first);
        for id in ids {
            let key = record_key(id);
            assert_eq!(id_of_sort_key(&key.sk), Some(id));
            assert!(key.pk.ends_with(&format!("#{}", id % SHARDS)));
        }
        let key = record_key(make_id(ms, 6));
        assert_eq!(key.pk, "ACTIVITY#2025-06#2");
        // The month is the UTC month of the millisecond.
        assert_eq!(record_key(make_id(ms - 1, 4)).pk, "ACTIVITY#2025-05#0");
        for bad in [
            "",
            "12",
            "abcdefghijklmnop",
            "+000000000000001",
            "9999999999999999",
        ] {
            assert_eq!(id_of_sort_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn months_walk_back_across_years() {
        let january = Month::of(at(2025, 1, 31, 23));
        assert_eq!(january.label(), "2025-01");
        assert_eq!(january.previous().label(), "2024-12");
        assert!(january.previous() < january);
        assert_eq!(Month::of(at(2024, 12, 1, 0)).previous().label(), "2024-11");
    }

    #[test]
    fn times_compare_at_whole_milliseconds() {
        let t = at(2025, 6, 1, 0);
        assert_eq!(ceil_ms(t), t.timestamp_millis());
        assert_eq!(
            ceil_ms(t + chrono::Duration::microseconds(1)),
            t.timestamp_millis() + 1
        );
        assert_eq!(
            ceil_ms(t + chrono::Duration::milliseconds(1)),
            t.timestamp_millis() + 1
        );
    }

    #[test]
    fn windows_are_bounded_by_retention_and_filters() {
        let now = at(2025, 6, 15, 12);
        let window = Window::new(now, 30, &Filter::default(), None).expect("window");
        assert_eq!(window.hi, NO_UPPER_BOUND);
        assert_eq!(window.newest.label(), "2025-06");
        assert_eq!(window.oldest.label(), "2025-05");
        assert!(window.start("p").is_none());
        // An absurd retention is clamped, so the walk stays bounded.
        let window = Window::new(now, u32::MAX, &Filter::default(), None).expect("window");
        assert!(window.oldest.year >= 2015);
        // 0 days still lists the last day (clamped to 1).
        let window = Window::new(now, 0, &Filter::default(), None).expect("window");
        assert_eq!(window.oldest.label(), "2025-06");
        // since/until and the cursor narrow it; the narrower bound wins.
        let filter = Filter {
            since: Some(at(2025, 6, 10, 0)),
            until: Some(at(2025, 6, 12, 0)),
            ..Filter::default()
        };
        let window = Window::new(now, 30, &filter, None).expect("window");
        assert_eq!(
            window.lo,
            first_id_at(at(2025, 6, 10, 0).timestamp_millis())
        );
        assert_eq!(
            window.hi,
            first_id_at(at(2025, 6, 12, 0).timestamp_millis())
        );
        let earlier = make_id(at(2025, 6, 11, 0).timestamp_millis(), 9);
        assert_eq!(
            Window::new(now, 30, &filter, Some(earlier)).map(|w| w.hi),
            Some(earlier)
        );
        let start = window.start("p").expect("a start");
        assert_eq!(id_of_sort_key(&start.sk), Some(window.hi));
        // Nothing can match: no window, so no store call.
        let empty = Filter {
            since: Some(at(2025, 6, 12, 0)),
            until: Some(at(2025, 6, 12, 0)),
            ..Filter::default()
        };
        assert_eq!(Window::new(now, 30, &empty, None), None);
        let long_ago = Filter {
            until: Some(at(2025, 1, 1, 0)),
            ..Filter::default()
        };
        assert_eq!(Window::new(now, 30, &long_ago, None), None);
    }

    #[test]
    fn kinds_must_fit_a_key() {
        for good in [
            "created_user",
            "user_logged_in",
            "a",
            &"x".repeat(MAX_KIND_LEN),
        ] {
            assert!(valid_kind(good), "{good:?}");
        }
        for bad in [
            "",
            "Created",
            "a#b",
            "a b",
            "é",
            &"x".repeat(MAX_KIND_LEN + 1),
        ] {
            assert!(!valid_kind(bad), "{bad:?}");
        }
    }

    #[test]
    fn fleet_shape() {
        let mut activity = Activity {
            id: 42,
            created_at: at(2025, 6, 1, 12),
            actor: Actor::User {
                id: 3,
                name: "Ann".into(),
                email: "ann@example.com".into(),
            },
            kind: "created_user".into(),
            details: json!({"user_id": 4}),
            source_ip: Some("192.0.2.1".into()),
        };
        assert_eq!(
            activity.to_json(),
            json!({
                "id": 42,
                "created_at": "2025-06-01T12:00:00.000Z",
                "actor_id": 3,
                "actor_full_name": "Ann",
                "actor_email": "ann@example.com",
                "type": "created_user",
                "details": {"user_id": 4},
                "source_ip": "192.0.2.1",
            })
        );
        activity.actor = Actor::BreakGlass;
        let shown = activity.to_json();
        assert_eq!(shown["actor_id"], Value::Null);
        assert_eq!(shown["actor_full_name"], BREAK_GLASS_NAME);
        assert_eq!(shown["actor_email"], Value::Null);
        activity.actor = Actor::Anonymous;
        activity.source_ip = None;
        let shown = activity.to_json();
        assert_eq!(shown["actor_full_name"], Value::Null);
        assert_eq!(shown["source_ip"], Value::Null);
        // The stored record round-trips, the actor tagged by kind.
        let stored = serde_json::to_value(&activity).expect("serialises");
        assert_eq!(stored["actor"], json!({"kind": "anonymous"}));
        let back: Activity = serde_json::from_value(stored).expect("deserialises");
        assert_eq!(back, activity);
    }
}
