//! The state port: a single-table item store with the operations DynamoDB does well
//! (key lookups, partition queries, conditional and transactional writes, atomic counters).
//! The domain builds its access patterns on these; docs/ARCHITECTURE.md lists them.

use async_trait::async_trait;
use serde_json::Value;

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item. `data` is the domain record as JSON; the other fields are the ones
/// the store itself looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    /// Optional entry in the one secondary index (GSI1: keys and expiry), used for admin listings.
    pub gsi1: Option<Key>,
    pub data: Value,
    /// Bumped by the store on every put; `Cond::Version` compares against it.
    pub version: u64,
    /// Unix seconds after which the item is treated as absent (DynamoDB TTL attribute `ttl`).
    pub expires_at: Option<i64>,
}

impl Item {
    pub fn new(key: Key, data: Value) -> Self {
        Item {
            key,
            gsi1: None,
            data,
            version: 0,
            expires_at: None,
        }
    }

    pub fn with_gsi1(mut self, gsi1: Key) -> Self {
        self.gsi1 = Some(gsi1);
        self
    }

    pub fn with_expiry(mut self, expires_at: i64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }
}

/// A condition on the current state of an item, checked atomically with a write.
/// An expired item counts as absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    None,
    NotExists,
    Exists,
    /// The item exists with exactly this version.
    Version(u64),
}

/// One write of an atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Store the item; the stored version becomes the current version + 1 (1 for a new item).
    Put {
        item: Item,
        cond: Cond,
    },
    Delete {
        key: Key,
        cond: Cond,
    },
    /// Write nothing; fail the batch unless the condition holds.
    Check {
        key: Key,
        cond: Cond,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Primary,
    Gsi1,
}

/// Items of one partition whose sort key starts with `sk_prefix`, in sort-key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk_prefix: String,
    pub limit: Option<usize>,
    /// Continue after this primary key (the `next` of the previous page).
    pub start_after: Option<Key>,
    /// Highest sort key first (DynamoDB's `ScanIndexForward = false`); `start_after` then
    /// continues below the key.
    pub descending: bool,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Query {
            index: Index::Primary,
            pk: pk.into(),
            sk_prefix: String::new(),
            limit: None,
            start_after: None,
            descending: false,
        }
    }

    pub fn gsi1(pk: impl Into<String>) -> Self {
        Query {
            index: Index::Gsi1,
            ..Query::partition(pk)
        }
    }

    pub fn prefix(mut self, sk_prefix: impl Into<String>) -> Self {
        self.sk_prefix = sk_prefix.into();
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn after(mut self, key: Option<Key>) -> Self {
        self.start_after = key;
        self
    }

    /// Highest sort key first.
    pub fn descending(mut self, descending: bool) -> Self {
        self.descending = descending;
        self
    }
}

/// A page of query results. On `Index::Gsi1` the items carry only their keys and expiry
/// (`data` is `Value::Null`), so that frequent updates of indexed items do not write to it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// The cursor to pass as `start_after` for the next page, if there may be one
    /// (on `Index::Gsi1` an opaque key, not an item's primary key).
    pub next: Option<Key>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("condition failed")]
    ConditionFailed,
    #[error("too many operations in one atomic write ({0}, at most 100)")]
    TooManyOps(usize),
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// The item, or None when absent or expired.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// The items that exist among `keys` (any order); at most 100 keys.
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError>;

    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Apply all operations or none; `ConditionFailed` when any condition does not hold.
    /// At most 100 operations, each on a different key.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    /// Atomically add `by` to the counter stored at `key` (created at 0) and return the new
    /// value. `expires_at`, when given, is set on the counter item. Counters live in their own
    /// items: do not mix them with `write` on the same key.
    async fn increment(
        &self,
        key: &Key,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError>;
}

/// Convenience wrappers over `write` for the common single-item case.
pub async fn put(store: &dyn StateStore, item: Item, cond: Cond) -> Result<(), StoreError> {
    store.write(vec![WriteOp::Put { item, cond }]).await
}

impl Item {
    /// An item holding `record` serialised as JSON.
    pub fn encode<T: serde::Serialize>(key: Key, record: &T) -> Result<Self, StoreError> {
        let data = serde_json::to_value(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Item::new(key, data))
    }

    /// The record this item holds.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, StoreError> {
        T::deserialize(&self.data)
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", self.key.pk, self.key.sk)))
    }
}

/// The position just after the gsi1 entry (`gsi1_sk`, item `key`), to pass as a gsi1 Query's
/// `start_after` (the form of the `next` such a Query answers): a cursor can be rebuilt from
/// the entry it stopped at.
pub fn gsi1_position(gsi1_sk: &str, key: &Key) -> Key {
    Key::new(
        gsi1_sk,
        Value::from(vec![key.pk.as_str(), key.sk.as_str()]).to_string(),
    )
}

/// Every item the query matches, following `next` across pages.
pub async fn query_all(store: &dyn StateStore, query: Query) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut query = query;
    loop {
        let page = store.query(&query).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => query.start_after = Some(next),
            None => return Ok(items),
        }
    }
}

/// The existing items among `keys`, in batches of the port's limit of 100.
pub async fn batch_get_all(store: &dyn StateStore, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        items.extend(store.batch_get(chunk).await?);
    }
    Ok(items)
}

/// The records listed under a GSI1 partition, fetched through their primary keys.
pub async fn gsi1_records<T: serde::de::DeserializeOwned>(
    store: &dyn StateStore,
    gsi1_pk: &str,
) -> Result<Vec<T>, StoreError> {
    let keys: Vec<Key> = query_all(store, Query::gsi1(gsi1_pk))
        .await?
        .into_iter()
        .map(|item| item.key)
        .collect();
    batch_get_all(store, &keys)
        .await?
        .iter()
        .map(Item::decode)
        .collect()
}
