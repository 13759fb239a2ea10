//! The state store on one machine: redb, one file, behaving like the DynamoDB adapter
//! (same expiry rule, same version numbering, same page shapes) so that the domain cannot
//! tell them apart.

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use super::EmbeddedError;
use crate::clock::Clock;
use crate::ports::{Cond, Index, Item, Key, Page, Query, StateStore, StoreError, WriteOp};

/// (pk, sk) -> a JSON `Record`.
const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
/// (gsi1pk, gsi1sk, pk, sk) -> the item's expiry, so that index queries can drop expired
/// items without reading them.
const GSI1: TableDefinition<(&str, &str, &str, &str), Option<i64>> = TableDefinition::new("gsi1");

/// The most operations one atomic write may hold (DynamoDB's TransactWriteItems limit).
pub(crate) const MAX_WRITE_OPS: usize = 100;

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    data: Value,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1: Option<(String, String)>,
}

// ---- Rules shared with the DynamoDB adapter, so that both families agree.

/// An item is expired when `expires_at <= now`; expired items count as absent everywhere.
/// The DynamoDB adapter's condition expressions encode the same boundary.
pub(crate) fn is_live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

/// Whether `cond` holds, given the version of the item if it exists and is live.
pub(crate) fn cond_holds(cond: Cond, live_version: Option<u64>) -> bool {
    match cond {
        Cond::None => true,
        Cond::NotExists => live_version.is_none(),
        Cond::Exists => live_version.is_some(),
        Cond::Version(v) => live_version == Some(v),
    }
}

pub(crate) fn op_key(op: &WriteOp) -> &Key {
    match op {
        WriteOp::Put { item, .. } => &item.key,
        WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key,
    }
}

/// DynamoDB's limit on one item: 400 KB of attribute names and values.
pub(crate) const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The item's size as DynamoDB counts it (UTF-8 names and values, numbers at their longest),
/// checked by both adapters so that an item too big for DynamoDB fails locally as well.
fn check_item_size(item: &Item) -> Result<(), StoreError> {
    const NUMBER: usize = 21;
    let data = serde_json::to_string(&item.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut size = "pk".len() + item.key.pk.len() + "sk".len() + item.key.sk.len();
    size += "data".len() + data.len() + "ver".len() + NUMBER;
    if let Some(index) = &item.gsi1 {
        size += "gsi1pk".len() + index.pk.len() + "gsi1sk".len() + index.sk.len();
    }
    if item.expires_at.is_some() {
        size += "ttl".len() + NUMBER;
    }
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::Unavailable(format!(
            "item {}/{} is {size} bytes, over DynamoDB's item limit of {MAX_ITEM_BYTES}",
            item.key.pk, item.key.sk
        )));
    }
    Ok(())
}

/// The checks both adapters make before touching storage: DynamoDB rejects more than 100
/// operations, two operations on one item in a transaction, and items over 400 KB.
pub(crate) fn check_write_batch(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.len() > MAX_WRITE_OPS {
        return Err(StoreError::TooManyOps(ops.len()));
    }
    let mut seen = HashSet::with_capacity(ops.len());
    for op in ops {
        let key = op_key(op);
        if !seen.insert(key) {
            return Err(StoreError::Unavailable(format!(
                "two operations on {}/{} in one atomic write",
                key.pk, key.sk
            )));
        }
        if let WriteOp::Put { item, .. } = op {
            check_item_size(item)?;
        }
    }
    Ok(())
}

/// The distinct keys of a batch get, first occurrence first (DynamoDB rejects duplicates).
pub(crate) fn distinct_keys(keys: &[Key]) -> Vec<&Key> {
    let mut seen = HashSet::with_capacity(keys.len());
    keys.iter().filter(|key| seen.insert(*key)).collect()
}

/// On `Index::Gsi1` a page's `next` has to locate a row of the index, which the row's primary
/// key alone does not do (DynamoDB's ExclusiveStartKey for an index needs gsi1sk too). So there
/// `next` is an opaque cursor in a `Key`: pk = the row's gsi1sk, sk = JSON `[pk, sk]`.
/// Callers pass it back as `start_after` unchanged.
pub(crate) fn gsi1_cursor(gsi1sk: &str, key: &Key) -> Key {
    crate::ports::state::gsi1_position(gsi1sk, key)
}

/// (gsi1sk, primary key) of a cursor made by `gsi1_cursor`.
pub(crate) fn parse_gsi1_cursor(cursor: &Key) -> Result<(String, Key), StoreError> {
    let invalid = || StoreError::Corrupt("start_after is not a cursor of a gsi1 query".into());
    let parts: Vec<String> = serde_json::from_str(&cursor.sk).map_err(|_| invalid())?;
    match <[String; 2]>::try_from(parts) {
        Ok([pk, sk]) => Ok((cursor.pk.clone(), Key { pk, sk })),
        Err(_) => Err(invalid()),
    }
}

// ---- The store.

/// The redb-backed `StateStore`. Cheap to clone. `database()` hands the open database to
/// the embedded queue, because redb cannot open one file twice in a process.
#[derive(Clone)]
pub struct EmbeddedState {
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("embedded database: {e}"))
}

/// redb blocks on disk I/O (and a write waits for the previous one): keep it off the runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
}

fn decode(key: &Key, bytes: &[u8]) -> Result<Record, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", key.pk, key.sk)))
}

fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn to_item(key: Key, record: Record) -> Item {
    Item {
        key,
        gsi1: record.gsi1.map(|(pk, sk)| Key { pk, sk }),
        data: record.data,
        version: record.version,
        expires_at: record.expires_at,
    }
}

fn read_record(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    key: &Key,
) -> Result<Option<Record>, StoreError> {
    match table
        .get((key.pk.as_str(), key.sk.as_str()))
        .map_err(unavailable)?
    {
        Some(bytes) => decode(key, bytes.value()).map(Some),
        None => Ok(None),
    }
}

fn remove_index_entry(
    gsi: &mut Table<(&str, &str, &str, &str), Option<i64>>,
    key: &Key,
    record: &Record,
) -> Result<(), StoreError> {
    if let Some((gpk, gsk)) = &record.gsi1 {
        gsi.remove((gpk.as_str(), gsk.as_str(), key.pk.as_str(), key.sk.as_str()))
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Replaces whatever is stored at `key` (an expired item included: this is where expired items
/// get cleaned up) and keeps the index in step.
fn store_record(
    items: &mut Table<(&str, &str), &[u8]>,
    gsi: &mut Table<(&str, &str, &str, &str), Option<i64>>,
    key: &Key,
    old: Option<&Record>,
    new: &Record,
) -> Result<(), StoreError> {
    if let Some(old) = old {
        remove_index_entry(gsi, key, old)?;
    }
    if let Some((gpk, gsk)) = &new.gsi1 {
        gsi.insert(
            (gpk.as_str(), gsk.as_str(), key.pk.as_str(), key.sk.as_str()),
            new.expires_at,
        )
        .map_err(unavailable)?;
    }
    items
        .insert((key.pk.as_str(), key.sk.as_str()), encode(new)?.as_slice())
        .map_err(unavailable)?;
    Ok(())
}

impl EmbeddedState {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, EmbeddedError> {
        let db = Database::create(path).map_err(|e| EmbeddedError::Database {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Self::with_database(Arc::new(db), clock)
    }

    /// A store over an already open database (its tables are created if missing).
    pub fn with_database(db: Arc<Database>, clock: Arc<dyn Clock>) -> Result<Self, EmbeddedError> {
        let create = || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            txn.open_table(ITEMS)?;
            txn.open_table(GSI1)?;
            txn.commit()?;
            Ok(())
        };
        create().map_err(EmbeddedError::Tables)?;
        Ok(EmbeddedState { db, clock })
    }

    /// The open database, to share with `EmbeddedQueue`.
    pub fn database(&self) -> Arc<Database> {
        self.db.clone()
    }

    fn now(&self) -> i64 {
        self.clock.unix()
    }
}

/// One entry of a range over the items table, and over the gsi1 table.
type ItemEntry<'a> = Result<
    (
        redb::AccessGuard<'a, (&'static str, &'static str)>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;
type GsiEntry<'a> = Result<
    (
        redb::AccessGuard<'a, (&'static str, &'static str, &'static str, &'static str)>,
        redb::AccessGuard<'a, Option<i64>>,
    ),
    redb::StorageError,
>;

fn query_primary(db: &Database, query: &Query, now: i64) -> Result<Page, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let table = txn.open_table(ITEMS).map_err(unavailable)?;
    let pk = query.pk.as_str();
    let prefix = query.sk_prefix.as_str();
    // The highest sort key with this prefix (no key of ours holds U+10FFFF).
    let prefix_end = format!("{prefix}\u{10FFFF}");
    let range = if query.descending {
        let end = match &query.start_after {
            Some(after) if after.sk.as_str() <= prefix_end.as_str() => {
                Bound::Excluded((pk, after.sk.as_str()))
            }
            _ => Bound::Included((pk, prefix_end.as_str())),
        };
        let range = table
            .range::<(&str, &str)>((Bound::Included((pk, prefix)), end))
            .map_err(unavailable)?;
        Box::new(range.rev()) as Box<dyn Iterator<Item = ItemEntry<'_>>>
    } else {
        let start = match &query.start_after {
            Some(after) if after.sk.as_str() >= prefix => Bound::Excluded((pk, after.sk.as_str())),
            _ => Bound::Included((pk, prefix)),
        };
        let range = table
            .range::<(&str, &str)>((start, Bound::Unbounded))
            .map_err(unavailable)?;
        Box::new(range) as Box<dyn Iterator<Item = ItemEntry<'_>>>
    };
    let mut page = Page::default();
    for (evaluated, entry) in (1usize..).zip(range) {
        let (stored_key, bytes) = entry.map_err(unavailable)?;
        let (item_pk, item_sk) = stored_key.value();
        if item_pk != pk || !item_sk.starts_with(prefix) {
            break;
        }
        let key = Key::new(item_pk, item_sk);
        let record = decode(&key, bytes.value())?;
        // Like DynamoDB, the limit counts the items looked at, expired ones included, and
        // a full page always offers a `next`, even when nothing follows it.
        let full = query.limit.is_some_and(|limit| evaluated >= limit);
        if full {
            page.next = Some(key.clone());
        }
        if is_live(record.expires_at, now) {
            page.items.push(to_item(key, record));
        }
        if full {
            break;
        }
    }
    Ok(page)
}

fn query_gsi1(db: &Database, query: &Query, now: i64) -> Result<Page, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let table = txn.open_table(GSI1).map_err(unavailable)?;
    let gpk = query.pk.as_str();
    let prefix = query.sk_prefix.as_str();
    let cursor = query
        .start_after
        .as_ref()
        .map(parse_gsi1_cursor)
        .transpose()?;
    let prefix_end = format!("{prefix}\u{10FFFF}");
    let range = if query.descending {
        let end = match &cursor {
            Some((gsk, key)) if gsk.as_str() <= prefix_end.as_str() => {
                Bound::Excluded((gpk, gsk.as_str(), key.pk.as_str(), key.sk.as_str()))
            }
            _ => Bound::Included((gpk, prefix_end.as_str(), "\u{10FFFF}", "\u{10FFFF}")),
        };
        let range = table
            .range::<(&str, &str, &str, &str)>((Bound::Included((gpk, prefix, "", "")), end))
            .map_err(unavailable)?;
        Box::new(range.rev()) as Box<dyn Iterator<Item = GsiEntry<'_>>>
    } else {
        let start = match &cursor {
            Some((gsk, key)) if gsk.as_str() >= prefix => {
                Bound::Excluded((gpk, gsk.as_str(), key.pk.as_str(), key.sk.as_str()))
            }
            _ => Bound::Included((gpk, prefix, "", "")),
        };
        let range = table
            .range::<(&str, &str, &str, &str)>((start, Bound::Unbounded))
            .map_err(unavailable)?;
        Box::new(range) as Box<dyn Iterator<Item = GsiEntry<'_>>>
    };
    let mut page = Page::default();
    for (evaluated, entry) in (1usize..).zip(range) {
        let (row, expires_at) = entry.map_err(unavailable)?;
        let (row_gpk, row_gsk, pk, sk) = row.value();
        if row_gpk != gpk || !row_gsk.starts_with(prefix) {
            break;
        }
        let key = Key::new(pk, sk);
        let expires_at = expires_at.value();
        let full = query.limit.is_some_and(|limit| evaluated >= limit);
        if full {
            page.next = Some(gsi1_cursor(row_gsk, &key));
        }
        if is_live(expires_at, now) {
            page.items.push(Item {
                key,
                gsi1: Some(Key::new(row_gpk, row_gsk)),
                data: Value::Null,
                version: 0,
                expires_at,
            });
        }
        if full {
            break;
        }
    }
    Ok(page)
}

/// Applies `ops` in one redb transaction: every condition is checked first, then every write
/// is made, and the commit makes them visible (and durable) together.
fn write_all(db: &Database, ops: &[WriteOp], now: i64) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let outcome = (|| {
        let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
        let mut gsi = txn.open_table(GSI1).map_err(unavailable)?;
        let mut current = Vec::with_capacity(ops.len());
        for op in ops {
            let (key, cond) = match op {
                WriteOp::Put { item, cond } => (&item.key, *cond),
                WriteOp::Delete { key, cond } | WriteOp::Check { key, cond } => (key, *cond),
            };
            let record = read_record(&items, key)?;
            let live_version = record
                .as_ref()
                .filter(|r| is_live(r.expires_at, now))
                .map(|r| r.version);
            if !cond_holds(cond, live_version) {
                return Err(StoreError::ConditionFailed);
            }
            current.push(record);
        }
        for (op, old) in ops.iter().zip(current) {
            match op {
                WriteOp::Put { item, .. } => {
                    // Versions keep counting across expiry and overwrite (DynamoDB's
                    // `ADD ver 1` sees the expired item until TTL deletes it), which also means
                    // a stale `Cond::Version` can never match a recreated item.
                    let record = Record {
                        data: item.data.clone(),
                        version: old.as_ref().map_or(0, |r| r.version) + 1,
                        expires_at: item.expires_at,
                        gsi1: item.gsi1.as_ref().map(|k| (k.pk.clone(), k.sk.clone())),
                    };
                    store_record(&mut items, &mut gsi, &item.key, old.as_ref(), &record)?;
                }
                WriteOp::Delete { key, .. } => {
                    if let Some(old) = &old {
                        remove_index_entry(&mut gsi, key, old)?;
                        items
                            .remove((key.pk.as_str(), key.sk.as_str()))
                            .map_err(unavailable)?;
                    }
                }
                WriteOp::Check { .. } => {}
            }
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => txn.commit().map_err(unavailable),
        Err(e) => {
            txn.abort().map_err(unavailable)?;
            Err(e)
        }
    }
}

fn increment_counter(
    db: &Database,
    key: &Key,
    by: i64,
    expires_at: Option<i64>,
    now: i64,
) -> Result<i64, StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let outcome = (|| {
        let mut items = txn.open_table(ITEMS).map_err(unavailable)?;
        let mut gsi = txn.open_table(GSI1).map_err(unavailable)?;
        let old = read_record(&items, key)?;
        // An expired counter starts again from 0 and forgets its old expiry; the DynamoDB
        // adapter does the same with two conditional updates.
        let (n, expires_at) = match &old {
            Some(record) if is_live(record.expires_at, now) => {
                let current = record.data.get("n").and_then(Value::as_i64).unwrap_or(0);
                let n = current.checked_add(by).ok_or_else(|| {
                    StoreError::Corrupt(format!("counter {}/{} overflows", key.pk, key.sk))
                })?;
                (n, expires_at.or(record.expires_at))
            }
            _ => (by, expires_at),
        };
        let record = Record {
            data: serde_json::json!({ "n": n }),
            version: 0,
            expires_at,
            gsi1: None,
        };
        store_record(&mut items, &mut gsi, key, old.as_ref(), &record)?;
        Ok(n)
    })();
    match outcome {
        Ok(n) => {
            txn.commit().map_err(unavailable)?;
            Ok(n)
        }
        Err(e) => {
            txn.abort().map_err(unavailable)?;
            Err(e)
        }
    }
}

#[async_trait]
impl StateStore for EmbeddedState {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let db = self.db.clone();
        let key = key.clone();
        let now = self.now();
        blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            Ok(read_record(&table, &key)?
                .filter(|r| is_live(r.expires_at, now))
                .map(|r| to_item(key, r)))
        })
        .await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.db.clone();
        let keys: Vec<Key> = distinct_keys(keys).into_iter().cloned().collect();
        let now = self.now();
        blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let mut found = Vec::new();
            for key in keys {
                if let Some(record) = read_record(&table, &key)? {
                    if is_live(record.expires_at, now) {
                        found.push(to_item(key, record));
                    }
                }
            }
            Ok(found)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.limit == Some(0) {
            return Ok(Page::default());
        }
        let db = self.db.clone();
        let query = query.clone();
        let now = self.now();
        blocking(move || match query.index {
            Index::Primary => query_primary(&db, &query, now),
            Index::Gsi1 => query_gsi1(&db, &query, now),
        })
        .await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_write_batch(&ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        let db = self.db.clone();
        let now = self.now();
        blocking(move || write_all(&db, &ops, now)).await
    }

    async fn increment(
        &self,
        key: &Key,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let db = self.db.clone();
        let key = key.clone();
        let now = self.now();
        blocking(move || increment_counter(&db, &key, by, expires_at, now)).await
    }
}
