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
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> Result<T, ApiError>,
{
    for _ in 0..ATTEMPTS {
        let current = store.get(key).await?;
        let (record, cond) = match &current {
            Some(item) => (Some(item.decode::<T>()?), Cond::Version(item.version)),
            None => (None, Cond::NotExists),
        };
        let next = change(record)?;
        let mut item = Item::encode(key.clone(), &next)?;
        item.gsi1 = gsi1.clone();
        match store.write(vec![WriteOp::Put { item, cond }]).await {
            Ok(()) => return Ok(next),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Unavailable(format!(
        "{}/{} kept changing, retry",
        key.pk, key.sk
    )))
}
