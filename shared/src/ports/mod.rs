//! The ports: what the domain needs from storage, as traits. Each has an AWS adapter
//! (`adapters::aws`, feature `aws`) and an embedded adapter (`adapters::embedded`).

pub mod blobs;
pub mod log_sink;
pub mod queue;
pub mod secrets;
pub mod state;

pub use blobs::{BlobError, BlobStore, CompletedPart};
pub use log_sink::{LogKind, LogSink, LogSinkError};
pub use queue::{Queue, QueueError, ReceivedMessage};
pub use secrets::{SecretError, SecretStore};
pub use state::{Cond, Index, Item, Key, Page, Query, StateStore, StoreError, WriteOp};
