//! Read-modify-write of one record with optimistic concurrency (the item's version).

use serde::{de::DeserializeOwned, Serialize};

use crate::error::ApiError;
use crate::ports::{Cond, Item, Key, StateStore, StoreError, WriteOp};

const ATTEMPTS: usize = 5;

/// Applies `change` to the current record (None when absent) and stores the result only if
/// nobody wrote the item in between; retries a few times when somebody did.
pub async fn update<T, F>(
    store: &dyn StateStore,
    key: &Key,
    gsi1: Option<Key>,
    mut change: F,
) -> Result<T, ApiError>
where
    T: Serialize + DeserializeOwned + Clone,
    F: FnMut(Option<T>) -> Result<T, ApiError>,
{
    let updated = update_if(store, key, gsi1, |current| change(current).map(Some)).await?;
    updated.ok_or_else(|| ApiError::Internal(format!("{}/{} was not written", key.pk, key.sk)))
}

/// Like `update`, where `change` may leave the record as it is (None: nothing is written).
/// Answers the record as it now stands: the one written, or the current one (None if absent).
pub async fn update_if<T, F>(
    store: &dyn StateStore,
    key: &Key,
    gsi1: Option<Key>,
    mut change: F,
) -> Result<Option<T>, ApiError>
where
    T: Serialize + DeserializeOwned + Clone,
    F: FnMut(Option<T>) -> Result<Option<T>, ApiError>,
{
    for _ in 0..ATTEMPTS {
        let current = store.get(key).await?;
        let (record, cond) = match &current {
            Some(item) => (Some(item.decode::<T>()?), Cond::Version(item.version)),
            None => (None, Cond::NotExists),
        };
        let Some(next) = change(record.clone())? else {
            return Ok(record);
        };
        let mut item = Item::encode(key.clone(), &next)?;
        item.gsi1 = gsi1.clone();
        match store.write(vec![WriteOp::Put { item, cond }]).await {
            Ok(()) => return Ok(Some(next)),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Unavailable(format!(
        "{}/{} kept changing, retry",
        key.pk, key.sk
    )))
}
