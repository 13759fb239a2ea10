//! The embedded adapters: everything in one data directory on one machine (the local default).
//!
//! ```text
//! <data_dir>/state.redb          items, the gsi1 index and the queue (one redb database)
//! <data_dir>/blobs/<name>        blobs
//! <data_dir>/logs/<kind>/dt=YYYY-MM-DD/hour=HH/<instance>.json.gz
//! ```

pub mod blobs;
pub mod log_sink;
pub mod queue;
pub mod secrets;
pub mod state;

pub use blobs::DirBlobs;
pub use log_sink::DirLogSink;
pub use queue::{EmbeddedQueue, DEFAULT_MAX_RECEIVES};
pub use secrets::StaticSecrets;
pub use state::EmbeddedState;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::Ports;
use crate::clock::Clock;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Database { path: PathBuf, source: redb::Error },
    #[error("database tables: {0}")]
    Tables(redb::Error),
}

/// Builds every port over one data directory.
pub struct EmbeddedPorts;

impl EmbeddedPorts {
    /// The name of the database file in the data directory.
    pub const DATABASE_FILE: &'static str = "state.redb";

    /// Opens (creating what is missing) the adapters over `data_dir`. The state store and the
    /// queue share one database, which only one process may have open at a time.
    pub fn open(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        secrets: HashMap<String, String>,
    ) -> Result<Ports, EmbeddedError> {
        std::fs::create_dir_all(data_dir).map_err(|source| EmbeddedError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let state = EmbeddedState::open(&data_dir.join(Self::DATABASE_FILE), clock.clone())?;
        let queue: Arc<EmbeddedQueue> = Arc::new(EmbeddedQueue::new(
            state.database(),
            clock.clone(),
            DEFAULT_MAX_RECEIVES,
        )?);
        Ok(Ports {
            state: Arc::new(state),
            blobs: Arc::new(DirBlobs::new(data_dir.join("blobs"))),
            // One worker runs every kind of job locally.
            packager_queue: queue.clone(),
            queue,
            secrets: Arc::new(StaticSecrets::new(secrets)),
            log_sink: Arc::new(DirLogSink::new(data_dir, clock)),
        })
    }
}
