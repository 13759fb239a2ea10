//! A state store that counts the calls made through it: the benchmark's and the tests'
//! evidence of how many store calls each request costs.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::ports::{Item, Key, Page, Query, StateStore, StoreError, WriteOp};

#[derive(Debug, Default)]
pub struct StoreCalls {
    pub get: AtomicU64,
    pub batch_get: AtomicU64,
    pub query: AtomicU64,
    pub write: AtomicU64,
    pub increment: AtomicU64,
}

impl StoreCalls {
    pub fn total(&self) -> u64 {
        [
            &self.get,
            &self.batch_get,
            &self.query,
            &self.write,
            &self.increment,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

pub struct CountingStore {
    inner: Arc<dyn StateStore>,
    calls: Arc<StoreCalls>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn StateStore>) -> (Self, Arc<StoreCalls>) {
        let calls = Arc::new(StoreCalls::default());
        (
            CountingStore {
                inner,
                calls: calls.clone(),
            },
            calls,
        )
    }
}

#[async_trait]
impl StateStore for CountingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.calls.get.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.calls.batch_get.fetch_add(1, Ordering::Relaxed);
        self.inner.batch_get(keys).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.calls.query.fetch_add(1, Ordering::Relaxed);
        self.inner.query(query).await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.calls.write.fetch_add(1, Ordering::Relaxed);
        self.inner.write(ops).await
    }

    async fn increment(
        &self,
        key: &Key,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.calls.increment.fetch_add(1, Ordering::Relaxed);
        self.inner.increment(key, by, expires_at).await
    }
}
