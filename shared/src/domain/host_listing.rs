//! Host listings, counts and summaries over the listing index (`host_index`), each with
//! bounded work whatever the fleet's size.
//!
//! **Pages.** `list_page` reads the index from its cursor in chunks, filters in memory, and
//! stops when the page is full or after examining `READ_BUDGET` rows; either way it answers a
//! cursor to continue from. A selective filter therefore answers a short (even empty) page and
//! a cursor, never a read of the whole fleet.
//!
//! **Orders** (each an index whose sort key is the sorted value + id, read either direction):
//! - enroll order (`id`): `HOSTROW` / `I#<id>`, rows with their data, one Query per chunk;
//! - host name: `HOSTROW` / `H#<lower-case name>#<id>`, the same;
//! - last seen: the gsi1 entries of the `SEEN` items (`HOSTSEEN` / `<seen>#<id>`), which the
//!   agent path's one seen write keeps in place; rows then come by BatchGetItem.
//!
//! **Teams.** Everything (a global role, no team filter) reads `HOSTROW` itself. A set of at
//! most `MERGED_SCOPES` teams (a team role, or a `team_id` filter) reads those teams' gsi1
//! partitions of the index merged in order, so a small team's listing is not a walk through
//! everyone else's hosts; larger sets read everything and filter.
//!
//! **Search** is a case-insensitive substring of the host name, computer name, hardware UUID,
//! serial or primary IP (a substring, not a prefix, because people paste fragments of serials
//! and addresses); it is a filter over the chunks like the others.
//!
//! **Cursor**: base64url (no padding) of `<order>|<sort key of the last row examined>`, e.g.
//! `id+|I#000000000042`. Anything else is refused with 400.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use futures_util::stream::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::csv_record;
use super::host_index::{self, HostRow, ENROLL_HOURS, SEEN_DAYS, SEEN_MINUTES};
use super::host_status::{self, StatusFilter, StatusRules};
use super::hosts::Seen;
use super::identity::roles::TeamFilter;
use super::layout;
use crate::error::ApiError;
use crate::ports::state::{batch_get_all, gsi1_position, query_all};
use crate::ports::{Key, Query, StateStore, StoreError};

pub const MAX_PER_PAGE: usize = 500;
/// Rows one page may examine before it answers what it found and a cursor. A rare status or
/// a search that matches little reads all of it: at 4,000 rows such a page stays under the
/// admin UI's 50 ms (5,000 measured 50 ms at 100,000 hosts, status=online).
pub const READ_BUDGET: usize = 4_000;
/// Rows a count with a non-counter filter examines before it extrapolates.
pub const COUNT_BUDGET: usize = 20_000;
/// Up to this many teams are read as their own index partitions, merged.
pub const MERGED_SCOPES: usize = 8;

/// Which teams' hosts: all, or these (None: no team).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scopes {
    All,
    Only(BTreeSet<Option<u64>>),
}

impl Scopes {
    /// What was asked (None: any team) within what the principal may see.
    pub fn within(requested: Option<&[Option<u64>]>, permitted: &TeamFilter) -> Self {
        match (requested, permitted) {
            (None, TeamFilter::All) => Scopes::All,
            (Some(asked), permitted) => Scopes::Only(
                asked
                    .iter()
                    .copied()
                    .filter(|team| permitted.includes(*team))
                    .collect(),
            ),
            (None, TeamFilter::Only(teams)) => {
                Scopes::Only(teams.iter().map(|t| Some(*t)).collect())
            }
        }
    }

    pub fn includes(&self, team: Option<u64>) -> bool {
        match self {
            Scopes::All => true,
            Scopes::Only(teams) => teams.contains(&team),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderKey {
    Id,
    Name,
    LastSeen,
}

impl OrderKey {
    /// Fleet's `order_key` values.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "id" | "created_at" => Some(OrderKey::Id),
            "hostname" | "computer_name" | "display_name" => Some(OrderKey::Name),
            "last_seen" | "seen_time" => Some(OrderKey::LastSeen),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            OrderKey::Id => "id",
            OrderKey::Name => "name",
            OrderKey::LastSeen => "seen",
        }
    }
}

/// What to list: the filters (serializable: a bulk job carries them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFilter {
    pub scopes: Scopes,
    /// A platform family (`host_index::platform_family`).
    pub platform: Option<String>,
    pub status: Option<StatusFilterName>,
    pub osquery_version: Option<String>,
    /// Case-insensitive substring of name, computer name, UUID, serial or IP.
    pub search: Option<String>,
}

/// `StatusFilter` by name, so that filters serialize.
pub type StatusFilterName = String;

impl HostFilter {
    pub fn everything(scopes: Scopes) -> Self {
        HostFilter {
            scopes,
            platform: None,
            status: None,
            osquery_version: None,
            search: None,
        }
    }

    fn status(&self) -> Result<Option<StatusFilter>, ApiError> {
        self.status
            .as_deref()
            .map(|s| {
                StatusFilter::parse(s).ok_or_else(|| {
                    ApiError::bad_request("status must be online, offline, new or missing")
                })
            })
            .transpose()
    }

    fn matches_row(&self, row: &HostRow) -> bool {
        if !self.scopes.includes(row.team_id) {
            return false;
        }
        if let Some(platform) = &self.platform {
            if host_index::platform_family(&row.platform) != platform.as_str() {
                return false;
            }
        }
        if let Some(version) = &self.osquery_version {
            if &row.osquery_version != version {
                return false;
            }
        }
        if let Some(search) = &self.search {
            let needle = search.to_lowercase();
            let found = [
                &row.hostname,
                &row.computer_name,
                &row.uuid,
                &row.hardware_serial,
                &row.primary_ip,
            ]
            .iter()
            .any(|field| field.to_lowercase().contains(&needle));
            if !found {
                return false;
            }
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostQuery {
    pub filter: HostFilter,
    pub order: OrderKey,
    pub descending: bool,
    pub per_page: usize,
    pub cursor: Option<String>,
}

/// One listed host: its row, last seen time and status.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedHost {
    pub row: HostRow,
    pub seen_time: i64,
    pub online: bool,
}

impl ListedHost {
    /// Fleet's host fields that the row holds.
    pub fn to_json(&self) -> Value {
        let row = &self.row;
        let time = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0).map_or(Value::Null, |t| json!(t.to_rfc3339()))
        };
        json!({
            "id": row.id,
            "hostname": row.hostname,
            "computer_name": row.computer_name,
            "display_name": if row.computer_name.is_empty() { &row.hostname } else { &row.computer_name },
            "uuid": row.uuid,
            "hardware_serial": row.hardware_serial,
            "primary_ip": row.primary_ip,
            "platform": row.platform,
            "osquery_version": row.osquery_version,
            "team_id": row.team_id,
            "seen_time": time(self.seen_time),
            "status": if self.online { "online" } else { "offline" },
            "created_at": time(row.enrolled_at),
        })
    }

    pub fn status(&self) -> &'static str {
        if self.online {
            "online"
        } else {
            "offline"
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostPage {
    pub rows: Vec<ListedHost>,
    /// Where the next page starts; None when the listing is complete.
    pub next_cursor: Option<String>,
}

// ---- Cursors.

fn order_code(order: OrderKey, descending: bool) -> String {
    format!("{}{}", order.code(), if descending { "-" } else { "+" })
}

fn encode_cursor(order: OrderKey, descending: bool, sk: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}|{sk}", order_code(order, descending)))
}

/// The sort key a cursor continues after; 400 for anything not made by `encode_cursor` for
/// this order.
fn decode_cursor(cursor: &str, order: OrderKey, descending: bool) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("after is not a cursor of this listing");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (code, sk) = text.split_once('|').ok_or_else(bad)?;
    if code != order_code(order, descending) {
        return Err(bad());
    }
    let well_formed = match order {
        OrderKey::Id => sk.strip_prefix("I#").is_some_and(is_padded_id),
        OrderKey::Name => sk
            .strip_prefix("H#")
            .and_then(|rest| rest.rsplit_once('#'))
            .is_some_and(|(_, id)| is_padded_id(id)),
        OrderKey::LastSeen => seen_entry(sk).is_some(),
    };
    if !well_formed {
        return Err(bad());
    }
    Ok(sk.to_string())
}

fn is_padded_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// (seen time, host id) of a `HOSTSEEN` sort key.
fn seen_entry(sk: &str) -> Option<(i64, u64)> {
    let (seen, id) = sk.split_once('#')?;
    if seen.len() != 12 || !is_padded_id(id) || !seen.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((seen.parse().ok()?, id.parse().ok()?))
}

// ---- Reading the index.

/// Where the rows come from.
enum Source {
    /// `HOSTROW` itself (every team).
    Rows,
    /// These teams' gsi1 partitions, merged.
    Merged(Vec<String>),
    /// The `HOSTSEEN` index.
    Seen,
}

fn source(order: OrderKey, scopes: &Scopes) -> Source {
    match (order, scopes) {
        (OrderKey::LastSeen, _) => Source::Seen,
        (_, Scopes::Only(teams)) if teams.len() <= MERGED_SCOPES => Source::Merged(
            teams
                .iter()
                .map(|t| layout::host_rows_of(&host_index::scope(*t)))
                .collect(),
        ),
        _ => Source::Rows,
    }
}

fn prefix(order: OrderKey) -> &'static str {
    match order {
        OrderKey::Id => "I#",
        OrderKey::Name => "H#",
        OrderKey::LastSeen => "",
    }
}

/// A row as read, with its sort key (the cursor position) and its seen time when known.
struct Found {
    sk: String,
    row: HostRow,
    seen: Option<i64>,
}

/// One chunk of the index in order.
struct Chunk {
    found: Vec<Found>,
    /// Whether more may follow.
    more: bool,
    /// The sort key of the last entry read (rows gone meanwhile included): where the next
    /// chunk starts.
    last: Option<String>,
}

/// The next chunk after `after` (at most `limit` rows) in order.
async fn read_chunk(
    store: &dyn StateStore,
    source: &Source,
    order: OrderKey,
    descending: bool,
    after: Option<&str>,
    limit: usize,
) -> Result<Chunk, StoreError> {
    match source {
        Source::Rows => {
            let page = store
                .query(
                    &Query::partition(layout::HOST_ROWS)
                        .prefix(prefix(order))
                        .limit(limit)
                        .descending(descending)
                        .after(after.map(|sk| Key::new(layout::HOST_ROWS, sk))),
                )
                .await?;
            let found = page
                .items
                .iter()
                .map(|item| {
                    Ok(Found {
                        sk: item.key.sk.clone(),
                        row: item.decode()?,
                        seen: None,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let last = page
                .items
                .last()
                .map(|item| item.key.sk.clone())
                .or_else(|| page.next.as_ref().map(|key| key.sk.clone()));
            Ok(Chunk {
                found,
                more: page.next.is_some(),
                last,
            })
        }
        Source::Merged(partitions) => {
            // Each partition from the cursor; the merge is complete up to the nearest last
            // entry of a partition that has more.
            let per_partition = limit.div_ceil(partitions.len().max(1)).max(25);
            let mut entries: Vec<(String, Key)> = Vec::new();
            let mut bound: Option<String> = None;
            let mut more = false;
            for partition in partitions {
                let page = store
                    .query(
                        &Query::gsi1(partition.clone())
                            .prefix(prefix(order))
                            .limit(per_partition)
                            .descending(descending)
                            .after(
                                after.map(|sk| gsi1_position(sk, &Key::new(layout::HOST_ROWS, sk))),
                            ),
                    )
                    .await?;
                if page.next.is_some() {
                    more = true;
                    if let Some(last) = page.items.last() {
                        let last = last.key.sk.clone();
                        bound = Some(match bound {
                            None => last,
                            Some(b) if descending => b.max(last),
                            Some(b) => b.min(last),
                        });
                    }
                }
                entries.extend(page.items.into_iter().map(|i| (i.key.sk.clone(), i.key)));
            }
            if let Some(bound) = &bound {
                entries.retain(|(sk, _)| if descending { sk >= bound } else { sk <= bound });
            }
            entries.sort_by(|a, b| {
                if descending {
                    b.0.cmp(&a.0)
                } else {
                    a.0.cmp(&b.0)
                }
            });
            let last = entries.last().map(|(sk, _)| sk.clone());
            let keys: Vec<Key> = entries.iter().map(|(_, key)| key.clone()).collect();
            let mut rows: HashMap<String, HostRow> = HashMap::new();
            for item in batch_get_all(store, &keys).await? {
                rows.insert(item.key.sk.clone(), item.decode()?);
            }
            let found = entries
                .into_iter()
                .filter_map(|(sk, _)| {
                    rows.remove(&sk).map(|row| Found {
                        sk,
                        row,
                        seen: None,
                    })
                })
                .collect();
            Ok(Chunk { found, more, last })
        }
        Source::Seen => {
            let start = after.and_then(|sk| {
                seen_entry(sk).map(|(_, id)| gsi1_position(sk, &layout::host_seen(id)))
            });
            let page = store
                .query(
                    &Query::gsi1(layout::HOSTS_BY_SEEN)
                        .limit(limit)
                        .descending(descending)
                        .after(start),
                )
                .await?;
            let entries: Vec<(String, i64, u64)> = page
                .items
                .iter()
                .filter_map(|item| {
                    let sk = item.gsi1.as_ref()?.sk.clone();
                    let (seen, id) = seen_entry(&sk)?;
                    Some((sk, seen, id))
                })
                .collect();
            let last = entries.last().map(|(sk, _, _)| sk.clone());
            let keys: Vec<Key> = entries
                .iter()
                .map(|(_, _, id)| layout::host_row(*id))
                .collect();
            let mut rows: HashMap<u64, HostRow> = HashMap::new();
            for item in batch_get_all(store, &keys).await? {
                let row: HostRow = item.decode()?;
                rows.insert(row.id, row);
            }
            let found = entries
                .into_iter()
                .filter_map(|(sk, seen, id)| {
                    rows.remove(&id).map(|row| Found {
                        sk,
                        row,
                        seen: Some(seen),
                    })
                })
                .collect();
            Ok(Chunk {
                found,
                more: page.next.is_some(),
                last,
            })
        }
    }
}

/// The seen times of these rows (their enrollment when never seen).
async fn fill_seen(store: &dyn StateStore, found: &mut [Found]) -> Result<(), StoreError> {
    let keys: Vec<Key> = found
        .iter()
        .filter(|f| f.seen.is_none())
        .map(|f| layout::host_seen(f.row.id))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let mut seen: HashMap<String, i64> = HashMap::new();
    for item in batch_get_all(store, &keys).await? {
        seen.insert(item.key.pk.clone(), item.decode::<Seen>()?.seen_time);
    }
    for f in found.iter_mut().filter(|f| f.seen.is_none()) {
        let pk = layout::host_partition(f.row.id);
        f.seen = Some(seen.get(&pk).copied().unwrap_or(f.row.enrolled_at));
    }
    Ok(())
}

/// What one walk of the index found.
struct Walk {
    rows: Vec<ListedHost>,
    examined: usize,
    /// The sort key to continue after; None when the index is exhausted.
    next: Option<String>,
}

/// Walks the index from `after`, keeping up to `want` matching rows, examining at most
/// `budget` rows.
async fn walk(
    store: &dyn StateStore,
    now: i64,
    rules: &StatusRules,
    query: &HostQuery,
    after: Option<String>,
    want: usize,
    budget: usize,
) -> Result<Walk, ApiError> {
    let status = query.filter.status()?;
    let source = source(query.order, &query.filter.scopes);
    if matches!(&query.filter.scopes, Scopes::Only(teams) if teams.is_empty()) {
        return Ok(Walk {
            rows: Vec::new(),
            examined: 0,
            next: None,
        });
    }
    let mut walk = Walk {
        rows: Vec::new(),
        examined: 0,
        next: after,
    };
    loop {
        let limit = (want.saturating_sub(walk.rows.len()) * 2)
            .clamp(100, 1000)
            .min(budget - walk.examined)
            .max(1);
        let Chunk {
            mut found,
            more,
            last,
        } = read_chunk(
            store,
            &source,
            query.order,
            query.descending,
            walk.next.as_deref(),
            limit,
        )
        .await?;
        let read = found.len();
        // Only the status needs the seen times of every candidate.
        if status.is_some() {
            found.retain(|f| query.filter.matches_row(&f.row));
            fill_seen(store, &mut found).await?;
        }
        let count = found.len();
        let mut taken = 0;
        let mut last_sk = None;
        for f in found {
            taken += 1;
            last_sk = Some(f.sk.clone());
            if !query.filter.matches_row(&f.row) {
                continue;
            }
            let seen = f.seen.unwrap_or(f.row.enrolled_at);
            if let Some(status) = status {
                if !status.matches(rules, now, seen, f.row.enrolled_at) {
                    continue;
                }
            }
            walk.rows.push(ListedHost {
                online: rules.is_online(now, seen),
                seen_time: seen,
                row: f.row,
            });
            if walk.rows.len() == want {
                break;
            }
        }
        if walk.rows.len() == want {
            // Full: the next page starts after the row that filled this one.
            walk.examined += taken;
            walk.next = if !more && taken == count {
                None
            } else {
                last_sk
            };
            return Ok(walk);
        }
        // Not full: the whole chunk was examined, matching or not.
        walk.examined += read.max(1);
        if last.is_some() {
            walk.next = last;
        }
        if !more {
            walk.next = None;
            return Ok(walk);
        }
        if walk.examined >= budget {
            return Ok(walk);
        }
    }
}

/// One page of hosts: at most `per_page` (1 to 500) matching rows, after at most
/// `READ_BUDGET` rows examined.
pub async fn list_page(
    store: &dyn StateStore,
    now: i64,
    rules: &StatusRules,
    query: &HostQuery,
) -> Result<HostPage, ApiError> {
    let per_page = query.per_page.clamp(1, MAX_PER_PAGE);
    let after = query
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, query.order, query.descending))
        .transpose()?;
    let mut walk = walk(store, now, rules, query, after, per_page, READ_BUDGET).await?;
    if query.filter.status.is_none() {
        // Only the page's rows need their seen times.
        let mut found: Vec<Found> = walk
            .rows
            .drain(..)
            .map(|h| Found {
                sk: String::new(),
                seen: (query.order == OrderKey::LastSeen).then_some(h.seen_time),
                row: h.row,
            })
            .collect();
        fill_seen(store, &mut found).await?;
        walk.rows = found
            .into_iter()
            .map(|f| {
                let seen = f.seen.unwrap_or(f.row.enrolled_at);
                ListedHost {
                    online: rules.is_online(now, seen),
                    seen_time: seen,
                    row: f.row,
                }
            })
            .collect();
    }
    Ok(HostPage {
        rows: walk.rows,
        next_cursor: walk
            .next
            .map(|sk| encode_cursor(query.order, query.descending, &sk)),
    })
}

/// The status rules of this deployment: the global agent options (cached 5 s per instance).
pub async fn status_rules(app: &crate::app::AppInner) -> Result<StatusRules, StoreError> {
    let config = app
        .config_cache
        .app_config(app.state(), app.clock.now().timestamp_millis())
        .await?;
    Ok(StatusRules::from_agent_options(&config.agent_options))
}

// ---- Counters.

/// Hosts by status, platform and osquery version, from counters only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostSummary {
    pub total: i64,
    pub online: i64,
    pub offline: i64,
    pub new: i64,
    pub missing: i64,
    /// (platform family, hosts), most hosts first.
    pub by_platform: Vec<(String, i64)>,
    /// (osquery version, hosts), most hosts first.
    pub by_osquery_version: Vec<(String, i64)>,
}

fn scope_names(scopes: &Scopes) -> Vec<String> {
    match scopes {
        Scopes::All => vec![host_index::ALL_SCOPE.to_string()],
        Scopes::Only(teams) => teams.iter().map(|t| host_index::scope(*t)).collect(),
    }
}

fn counter_value(item: &crate::ports::Item) -> i64 {
    item.data.get("n").and_then(Value::as_i64).unwrap_or(0)
}

/// The totals of these scopes: (what, hosts) summed over them.
async fn totals(
    store: &dyn StateStore,
    scopes: &Scopes,
) -> Result<HashMap<String, i64>, StoreError> {
    let mut sums: HashMap<String, i64> = HashMap::new();
    for scope in scope_names(scopes) {
        let items = query_all(
            store,
            Query::partition(layout::HOST_TOTALS).prefix(format!("{scope}#")),
        )
        .await?;
        for item in items {
            if let Some(what) = item.key.sk.strip_prefix(&format!("{scope}#")) {
                *sums.entry(what.to_string()).or_default() += counter_value(&item);
            }
        }
    }
    Ok(sums)
}

/// The hosts in these scopes, on these platform families (none: every platform), from their
/// counters: a Query per scope.
pub async fn total(
    store: &dyn StateStore,
    scopes: &Scopes,
    families: &[String],
) -> Result<u64, StoreError> {
    if matches!(scopes, Scopes::Only(teams) if teams.is_empty()) {
        return Ok(0);
    }
    let sums = totals(store, scopes).await?;
    let count = |what: &str| u64::try_from(sums.get(what).copied().unwrap_or(0)).unwrap_or(0);
    Ok(if families.is_empty() {
        count("total")
    } else {
        families
            .iter()
            .map(|family| count(&format!("platform#{family}")))
            .sum()
    })
}

/// The hosts a kind of bucket counts from `from` (unix seconds) on, in these scopes.
async fn bucket_sum(
    store: &dyn StateStore,
    kind: &host_index::Buckets,
    from: i64,
    scopes: &Scopes,
) -> Result<i64, StoreError> {
    let partition = layout::host_bucket_partition(kind.name);
    let start = kind.start(from);
    // Sort keys `<start:012>#<scope>` sort after the bare `<start:012>`.
    let items = query_all(
        store,
        Query::partition(partition.clone())
            .after(Some(Key::new(partition, format!("{start:012}")))),
    )
    .await?;
    let wanted: Option<BTreeSet<String>> = match scopes {
        Scopes::All => None,
        Scopes::Only(_) => Some(scope_names(scopes).into_iter().collect()),
    };
    Ok(items
        .iter()
        .filter(|item| {
            let scope = item.key.sk.split_once('#').map_or("", |(_, s)| s);
            wanted.as_ref().is_none_or(|w| w.contains(scope))
        })
        .map(counter_value)
        .sum())
}

fn sorted(map: &HashMap<String, i64>, prefix: &str) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = map
        .iter()
        .filter_map(|(what, n)| Some((what.strip_prefix(prefix)?.to_string(), *n)))
        .filter(|(_, n)| *n > 0)
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Hosts by status, platform and version for these teams: a Query per scope of the totals and
/// one per kind of bucket, whatever the fleet's size.
pub async fn summary(
    store: &dyn StateStore,
    now: i64,
    rules: &StatusRules,
    scopes: &Scopes,
) -> Result<HostSummary, StoreError> {
    if matches!(scopes, Scopes::Only(teams) if teams.is_empty()) {
        return Ok(HostSummary::default());
    }
    let (sums, online, new, seen_month) = futures_util::try_join!(
        totals(store, scopes),
        bucket_sum(
            store,
            &SEEN_MINUTES,
            now - rules.online_window_secs(),
            scopes
        ),
        bucket_sum(store, &ENROLL_HOURS, now - host_status::NEW_SECS, scopes),
        bucket_sum(store, &SEEN_DAYS, now - host_status::MISSING_SECS, scopes),
    )?;
    let total = sums.get("total").copied().unwrap_or(0).max(0);
    let online = online.clamp(0, total);
    Ok(HostSummary {
        total,
        online,
        offline: total - online,
        new: new.clamp(0, total),
        missing: (total - seen_month).clamp(0, total),
        by_platform: sorted(&sums, "platform#"),
        by_osquery_version: sorted(&sums, "version#"),
    })
}

/// A count, and whether it is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCount {
    pub count: u64,
    /// False when the filter is not counter-shaped and the fleet was larger than
    /// `COUNT_BUDGET` rows: then `count` extrapolates what that many rows matched.
    pub exact: bool,
}

/// The hosts matching a filter: from the counters when it is counter-shaped (teams with at
/// most one of platform, osquery version or status, no search), else by examining at most
/// `COUNT_BUDGET` rows of the index.
pub async fn count(
    store: &dyn StateStore,
    now: i64,
    rules: &StatusRules,
    filter: &HostFilter,
) -> Result<HostCount, ApiError> {
    count_within(store, now, rules, filter, COUNT_BUDGET).await
}

/// As `count`, examining at most `budget` rows when the filter is not counter-shaped: a page
/// that shows a count next to its rows spends less on the estimate than the API's count does.
pub async fn count_within(
    store: &dyn StateStore,
    now: i64,
    rules: &StatusRules,
    filter: &HostFilter,
    budget: usize,
) -> Result<HostCount, ApiError> {
    let status = filter.status()?;
    let narrowing = [
        filter.platform.is_some(),
        filter.osquery_version.is_some(),
        status.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if filter.search.is_none() && narrowing <= 1 {
        let exact = |n: i64| HostCount {
            count: u64::try_from(n.max(0)).unwrap_or(0),
            exact: true,
        };
        if let Some(status) = status {
            let s = summary(store, now, rules, &filter.scopes).await?;
            return Ok(exact(match status {
                StatusFilter::Online => s.online,
                StatusFilter::Offline => s.offline,
                StatusFilter::New => s.new,
                StatusFilter::Missing => s.missing,
            }));
        }
        let sums = totals(store, &filter.scopes).await?;
        let what = match (&filter.platform, &filter.osquery_version) {
            (Some(p), _) => format!("platform#{p}"),
            (_, Some(v)) => format!("version#{}", if v.is_empty() { "unknown" } else { v }),
            _ => "total".to_string(),
        };
        return Ok(exact(sums.get(&what).copied().unwrap_or(0)));
    }
    let query = HostQuery {
        filter: filter.clone(),
        order: OrderKey::Id,
        descending: false,
        per_page: budget,
        cursor: None,
    };
    let walk = walk(store, now, rules, &query, None, budget, budget).await?;
    let matched = walk.rows.len() as u64;
    if walk.next.is_none() {
        return Ok(HostCount {
            count: matched,
            exact: true,
        });
    }
    let total = totals(store, &HostFilter::everything(filter.scopes.clone()).scopes)
        .await?
        .get("total")
        .copied()
        .unwrap_or(0)
        .max(0) as u64;
    let examined = walk.examined.max(1) as u64;
    Ok(HostCount {
        count: (matched.saturating_mul(total) / examined).max(matched),
        exact: false,
    })
}

// ---- CSV.

/// The CSV report's columns, in order.
pub const CSV_COLUMNS: [&str; 11] = [
    "id",
    "hostname",
    "uuid",
    "hardware_serial",
    "primary_ip",
    "platform",
    "osquery_version",
    "team_id",
    "status",
    "last_seen",
    "enrolled_at",
];

pub fn csv_line(out: &mut Vec<u8>, host: &ListedHost) {
    let row = &host.row;
    let time =
        |t: i64| chrono::DateTime::from_timestamp(t, 0).map_or(String::new(), |t| t.to_rfc3339());
    csv_record::write(
        out,
        [
            row.id.to_string(),
            row.hostname.clone(),
            row.uuid.clone(),
            row.hardware_serial.clone(),
            row.primary_ip.clone(),
            row.platform.clone(),
            row.osquery_version.clone(),
            row.team_id.map(|t| t.to_string()).unwrap_or_default(),
            host.status().to_string(),
            time(host.seen_time),
            time(row.enrolled_at),
        ],
    );
}

/// The CSV of every host the query matches: the header, then one page of the index at a time
/// (memory stays at one page however many hosts match).
pub fn csv_stream(
    store: Arc<dyn StateStore>,
    now: i64,
    rules: StatusRules,
    query: HostQuery,
) -> impl Stream<Item = Result<Bytes, ApiError>> + Send {
    let mut header = Vec::new();
    csv_record::write(&mut header, CSV_COLUMNS);
    let first = Some(Bytes::from(header));
    futures_util::stream::try_unfold(
        (first, Some(query.cursor.clone()), query),
        move |(header, cursor, mut query)| {
            let store = store.clone();
            async move {
                if let Some(header) = header {
                    return Ok(Some((header, (None, cursor, query))));
                }
                let Some(cursor) = cursor else {
                    return Ok(None);
                };
                query.cursor = cursor;
                query.per_page = MAX_PER_PAGE;
                let page = list_page(store.as_ref(), now, &rules, &query).await?;
                let mut text = Vec::new();
                for host in &page.rows {
                    csv_line(&mut text, host);
                }
                let next = page.next_cursor.map(Some);
                Ok(Some((Bytes::from(text), (None, next, query))))
            }
        },
    )
}
