//! The state store on DynamoDB, one table:
//!
//! | attribute          | type | meaning                                                |
//! |--------------------|------|--------------------------------------------------------|
//! | `pk`, `sk`         | S    | the primary key (HASH, RANGE)                          |
//! | `data`             | S    | the record, JSON text                                  |
//! | `ver`              | N    | version, `ADD`ed on every put                          |
//! | `ttl`              | N    | expiry, unix seconds (the table's TTL attribute)       |
//! | `n`                | N    | the value of a counter item (which has no `data`)      |
//! | `gsi1pk`, `gsi1sk` | S    | key of the `gsi1` index (projection INCLUDE `ttl`)     |
//!
//! TTL deletion is lazy (it can take days), so every read drops expired items itself and
//! every condition treats them as absent: expired means `ttl <= now`, as in the embedded
//! store.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, ReturnValue, TransactWriteItem,
    Update,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::adapters::embedded::state::{
    check_write_batch, cond_holds, distinct_keys, gsi1_cursor, is_live, parse_gsi1_cursor,
};
use crate::clock::Clock;
use crate::ports::{Cond, Index, Item, Key, Page, Query, StateStore, StoreError, WriteOp};

/// The name of the table's one global secondary index.
pub const GSI1: &str = "gsi1";

const PK: &str = "pk";
const SK: &str = "sk";
const DATA: &str = "data";
const VER: &str = "ver";
const TTL: &str = "ttl";
const N: &str = "n";
const GSI1PK: &str = "gsi1pk";
const GSI1SK: &str = "gsi1sk";

/// BatchGetItem's limit of keys per call.
const BATCH_GET_MAX: usize = 100;
/// Retries of UnprocessedKeys and of transactions cancelled by a conflicting one.
const RETRIES: u32 = 8;

type Attrs = HashMap<String, AttributeValue>;

/// The DynamoDB `StateStore`. The clock decides what has expired, as in the embedded store.
#[derive(Clone)]
pub struct DynamoState {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoState")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn unavailable<E, R>(operation: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("DynamoDB {operation}: {}", DisplayErrorContext(&e)))
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("DynamoDB request: {e}"))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([(PK.to_string(), s(&key.pk)), (SK.to_string(), s(&key.sk))])
}

fn text<'a>(attrs: &'a Attrs, name: &str) -> Result<Option<&'a str>, StoreError> {
    match attrs.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(text)) => Ok(Some(text)),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute {name} is not a string"
        ))),
    }
}

fn number<T: std::str::FromStr>(attrs: &Attrs, name: &str) -> Result<Option<T>, StoreError> {
    match attrs.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(digits)) => digits.parse().map(Some).map_err(|_| {
            StoreError::Corrupt(format!("attribute {name} is not an integer: {digits}"))
        }),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute {name} is not a number"
        ))),
    }
}

fn required<'a>(attrs: &'a Attrs, name: &str) -> Result<&'a str, StoreError> {
    text(attrs, name)?.ok_or_else(|| StoreError::Corrupt(format!("item without {name}")))
}

fn primary_key(attrs: &Attrs) -> Result<Key, StoreError> {
    Ok(Key::new(required(attrs, PK)?, required(attrs, SK)?))
}

fn gsi1_key(attrs: &Attrs) -> Result<Option<Key>, StoreError> {
    Ok(match (text(attrs, GSI1PK)?, text(attrs, GSI1SK)?) {
        (Some(pk), Some(sk)) => Some(Key::new(pk, sk)),
        _ => None,
    })
}

/// The port's view of a stored item. A counter (an `n` and no `data`) reads as
/// `{"n": <value>}` with version 0, as in the embedded store.
fn to_item(attrs: &Attrs) -> Result<Item, StoreError> {
    let key = primary_key(attrs)?;
    let data = match text(attrs, DATA)? {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", key.pk, key.sk)))?,
        None => match number::<i64>(attrs, N)? {
            Some(count) => serde_json::json!({ "n": count }),
            None => Value::Null,
        },
    };
    Ok(Item {
        gsi1: gsi1_key(attrs)?,
        data,
        version: number(attrs, VER)?.unwrap_or(0),
        expires_at: number(attrs, TTL)?,
        key,
    })
}

/// Expression attribute names and values, collected while an expression is written.
/// Every attribute goes through a `#name` (DATA and TTL are reserved words).
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: Attrs,
}

impl Expr {
    fn name(&mut self, attribute: &str) -> String {
        let alias = format!("#{attribute}");
        self.names.insert(alias.clone(), attribute.to_string());
        alias
    }

    fn value(&mut self, label: &str, value: AttributeValue) -> String {
        let alias = format!(":{label}");
        self.values.insert(alias.clone(), value);
        alias
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<Attrs> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// "The item is not expired" (true when it has no `ttl`, or does not exist).
    fn unexpired(&mut self, now: i64) -> String {
        let ttl = self.name(TTL);
        let now = self.value("now", n(now));
        format!("(attribute_not_exists({ttl}) OR {ttl} > {now})")
    }

    /// `cond` as a condition expression; `None` for `Cond::None`. Expired items are absent.
    fn condition(&mut self, cond: Cond, now: i64) -> Option<String> {
        if cond == Cond::None {
            return None;
        }
        let pk = self.name(PK);
        match cond {
            Cond::None => None,
            Cond::NotExists => {
                let ttl = self.name(TTL);
                let now = self.value("now", n(now));
                Some(format!("(attribute_not_exists({pk}) OR {ttl} <= {now})"))
            }
            Cond::Exists => {
                let unexpired = self.unexpired(now);
                Some(format!("attribute_exists({pk}) AND {unexpired}"))
            }
            Cond::Version(version) => {
                let ver = self.name(VER);
                let expected = self.value("ver", n(version));
                // A counter has no `ver` and reads as version 0.
                let counter = if version == 0 {
                    format!(" OR attribute_not_exists({ver})")
                } else {
                    String::new()
                };
                let unexpired = self.unexpired(now);
                Some(format!(
                    "attribute_exists({pk}) AND ({ver} = {expected}{counter}) AND {unexpired}"
                ))
            }
        }
    }
}

/// A put as an UpdateItem: `ADD ver 1` bumps the version whatever the condition was, which a
/// PutItem cannot do. Attributes the item does not have are removed.
fn put_expression(item: &Item, expr: &mut Expr) -> Result<String, StoreError> {
    let data = serde_json::to_string(&item.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut set = vec![format!(
        "{} = {}",
        expr.name(DATA),
        expr.value("data", s(data))
    )];
    let mut remove = vec![expr.name(N)];
    match &item.gsi1 {
        Some(index) => {
            set.push(format!(
                "{} = {}",
                expr.name(GSI1PK),
                expr.value("gsi1pk", s(&index.pk))
            ));
            set.push(format!(
                "{} = {}",
                expr.name(GSI1SK),
                expr.value("gsi1sk", s(&index.sk))
            ));
        }
        None => {
            remove.push(expr.name(GSI1PK));
            remove.push(expr.name(GSI1SK));
        }
    }
    match item.expires_at {
        Some(at) => set.push(format!("{} = {}", expr.name(TTL), expr.value("ttl", n(at)))),
        None => remove.push(expr.name(TTL)),
    }
    let ver = expr.name(VER);
    let one = expr.value("one", n(1));
    Ok(format!(
        "SET {} REMOVE {} ADD {ver} {one}",
        set.join(", "),
        remove.join(", ")
    ))
}

/// Whether a cancelled transaction failed on a condition (rather than on a conflict).
fn cancellation_codes(e: &TransactWriteItemsError) -> Option<Vec<String>> {
    match e {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .filter_map(|reason| reason.code().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(20u64 << attempt.min(6))
}

impl DynamoState {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        DynamoState {
            client,
            table: table.into(),
            clock,
        }
    }

    fn now(&self) -> i64 {
        self.clock.unix()
    }

    async fn put_one(&self, item: &Item, cond: Cond, now: i64) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        let condition = expr.condition(cond, now);
        let update = put_expression(item, &mut expr)?;
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&item.key)))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }

    async fn delete_one(&self, key: &Key, cond: Cond, now: i64) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        let condition = expr.condition(cond, now);
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(e) => Err(unavailable("DeleteItem", e)),
        }
    }

    /// A lone check costs one consistent read instead of a transaction (half the price).
    async fn check_one(&self, key: &Key, cond: Cond, now: i64) -> Result<(), StoreError> {
        let attrs = self.get_attrs(key).await?;
        let live_version = match &attrs {
            Some(attrs) if is_live(number(attrs, TTL)?, now) => {
                Some(number(attrs, VER)?.unwrap_or(0))
            }
            _ => None,
        };
        if cond_holds(cond, live_version) {
            Ok(())
        } else {
            Err(StoreError::ConditionFailed)
        }
    }

    async fn get_attrs(&self, key: &Key) -> Result<Option<Attrs>, StoreError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            // Agents re-read what they have just written.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(got.item)
    }

    fn transact_item(&self, op: &WriteOp, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expr::default();
        Ok(match op {
            WriteOp::Put { item, cond } => {
                let condition = expr.condition(*cond, now);
                let update = put_expression(item, &mut expr)?;
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(&item.key)))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().update(update).build()
            }
            WriteOp::Delete { key, cond } => {
                let condition = expr.condition(*cond, now);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Check { key, cond } => {
                let condition = expr
                    .condition(*cond, now)
                    .ok_or_else(|| build_error("a check without a condition"))?;
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        })
    }

    async fn transact(&self, ops: &[WriteOp], now: i64) -> Result<(), StoreError> {
        let items = ops
            .iter()
            .map(|op| self.transact_item(op, now))
            .collect::<Result<Vec<_>, _>>()?;
        let mut attempt = 0;
        loop {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let e = match sent {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let codes = e.as_service_error().and_then(cancellation_codes);
            if let Some(codes) = &codes {
                if codes.iter().any(|code| code == "ConditionalCheckFailed") {
                    return Err(StoreError::ConditionFailed);
                }
            }
            // Another transaction held one of the items: the whole batch is safe to resend.
            let conflict = codes
                .as_ref()
                .is_some_and(|codes| codes.iter().any(|code| code == "TransactionConflict"))
                || e.as_service_error()
                    .is_some_and(|e| e.is_transaction_in_progress_exception());
            if conflict && attempt < RETRIES {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            return Err(unavailable("TransactWriteItems", e));
        }
    }

    async fn batch_get_chunk(
        &self,
        keys: &[&Key],
        now: i64,
        found: &mut Vec<Item>,
    ) -> Result<(), StoreError> {
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(|key| key_attrs(key)).collect()))
            .consistent_read(true)
            .build()
            .map_err(build_error)?;
        let mut attempt = 0;
        loop {
            let got = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| unavailable("BatchGetItem", e))?;
            for attrs in got
                .responses
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default()
            {
                let item = to_item(&attrs)?;
                if is_live(item.expires_at, now) {
                    found.push(item);
                }
            }
            // Under throttling DynamoDB returns part of the keys unprocessed: ask again, later.
            match got.unprocessed_keys.unwrap_or_default().remove(&self.table) {
                Some(rest) if !rest.keys().is_empty() => {
                    if attempt == RETRIES {
                        return Err(StoreError::Unavailable(
                            "DynamoDB BatchGetItem: keys still unprocessed after retries".into(),
                        ));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    request = rest;
                }
                _ => return Ok(()),
            }
        }
    }

    /// ADD to a live (or absent) counter; `None` when the counter exists but has expired.
    async fn add_to_live_counter(
        &self,
        key: &Key,
        by: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut expr = Expr::default();
        let mut update = format!("ADD {} {}", expr.name(N), expr.value("by", n(by)));
        if let Some(at) = expires_at {
            update.push_str(&format!(
                " SET {} = {}",
                expr.name(TTL),
                expr.value("ttl", n(at))
            ));
        }
        let condition = expr.unexpired(now);
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match sent {
            Ok(out) => {
                let attrs = out.attributes.unwrap_or_default();
                number(&attrs, N)?
                    .map(Some)
                    .ok_or_else(|| StoreError::Corrupt("UpdateItem returned no counter".into()))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }

    /// Restart an expired counter at `by`; false when it is no longer expired (someone else
    /// restarted it first).
    async fn restart_expired_counter(
        &self,
        key: &Key,
        by: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut expr = Expr::default();
        let mut update = format!("SET {} = {}", expr.name(N), expr.value("by", n(by)));
        match expires_at {
            Some(at) => update.push_str(&format!(
                ", {} = {}",
                expr.name(TTL),
                expr.value("ttl", n(at))
            )),
            None => update.push_str(&format!(" REMOVE {}", expr.name(TTL))),
        }
        let ttl = expr.name(TTL);
        let condition = format!("{ttl} <= {}", expr.value("now", n(now)));
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }
}

#[async_trait]
impl StateStore for DynamoState {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = self.now();
        match self.get_attrs(key).await? {
            Some(attrs) => Ok(Some(to_item(&attrs)?).filter(|item| is_live(item.expires_at, now))),
            None => Ok(None),
        }
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let now = self.now();
        let keys = distinct_keys(keys);
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            self.batch_get_chunk(chunk, now, &mut found).await?;
        }
        Ok(found)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.limit == Some(0) {
            return Ok(Page::default());
        }
        let now = self.now();
        let (hash, range) = match query.index {
            Index::Primary => (PK, SK),
            Index::Gsi1 => (GSI1PK, GSI1SK),
        };
        let mut expr = Expr::default();
        let mut key_condition = format!("{} = {}", expr.name(hash), expr.value("pk", s(&query.pk)));
        if !query.sk_prefix.is_empty() {
            key_condition.push_str(&format!(
                " AND begins_with({}, {})",
                expr.name(range),
                expr.value("prefix", s(&query.sk_prefix))
            ));
        }
        let start = match (&query.start_after, query.index) {
            (None, _) => None,
            (Some(after), Index::Primary) => Some(key_attrs(&Key::new(&query.pk, &after.sk))),
            (Some(cursor), Index::Gsi1) => {
                let (gsi1sk, key) = parse_gsi1_cursor(cursor)?;
                let mut start = key_attrs(&key);
                start.insert(GSI1PK.to_string(), s(&query.pk));
                start.insert(GSI1SK.to_string(), s(gsi1sk));
                Some(start)
            }
        };
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .set_exclusive_start_key(start)
            .scan_index_forward(!query.descending)
            .set_limit(
                query
                    .limit
                    .map(|limit| i32::try_from(limit).unwrap_or(i32::MAX)),
            );
        request = match query.index {
            Index::Primary => request.consistent_read(true),
            // Index reads are eventually consistent (DynamoDB offers nothing else on a GSI).
            Index::Gsi1 => request.index_name(GSI1),
        };
        let out = request.send().await.map_err(|e| unavailable("Query", e))?;
        // DynamoDB applies Limit before anything is filtered, and expired items are only
        // dropped here: a page can hold fewer than `limit` items and still have a `next`.
        // The embedded store pages the same way.
        let mut page = Page::default();
        for attrs in out.items.unwrap_or_default() {
            let item = match query.index {
                Index::Primary => to_item(&attrs)?,
                Index::Gsi1 => Item {
                    key: primary_key(&attrs)?,
                    gsi1: gsi1_key(&attrs)?,
                    data: Value::Null,
                    version: 0,
                    // Projected into the index (INCLUDE ttl) so that expired items can be
                    // dropped without reading them.
                    expires_at: number(&attrs, TTL)?,
                },
            };
            if is_live(item.expires_at, now) {
                page.items.push(item);
            }
        }
        page.next = match out.last_evaluated_key {
            None => None,
            Some(last) => Some(match query.index {
                Index::Primary => primary_key(&last)?,
                Index::Gsi1 => gsi1_cursor(required(&last, GSI1SK)?, &primary_key(&last)?),
            }),
        };
        Ok(page)
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_write_batch(&ops)?;
        let now = self.now();
        // A check of nothing holds; DynamoDB would reject a ConditionCheck without a condition.
        let ops: Vec<WriteOp> = ops
            .into_iter()
            .filter(|op| {
                !matches!(
                    op,
                    WriteOp::Check {
                        cond: Cond::None,
                        ..
                    }
                )
            })
            .collect();
        match ops.as_slice() {
            [] => Ok(()),
            [WriteOp::Put { item, cond }] => self.put_one(item, *cond, now).await,
            [WriteOp::Delete { key, cond }] => self.delete_one(key, *cond, now).await,
            [WriteOp::Check { key, cond }] => self.check_one(key, *cond, now).await,
            _ => self.transact(&ops, now).await,
        }
    }

    async fn increment(
        &self,
        key: &Key,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let now = self.now();
        // An expired counter starts again from 0 (as in the embedded store), which one
        // UpdateItem cannot express: add if live, else restart if still expired, else retry.
        for _ in 0..RETRIES {
            if let Some(value) = self.add_to_live_counter(key, by, expires_at, now).await? {
                return Ok(value);
            }
            if self
                .restart_expired_counter(key, by, expires_at, now)
                .await?
            {
                return Ok(by);
            }
        }
        Err(StoreError::Unavailable(format!(
            "counter {}/{} kept changing between expired and live",
            key.pk, key.sk
        )))
    }
}
