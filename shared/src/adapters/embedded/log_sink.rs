//! osquery logs as gzip JSON-lines files, laid out like the Firehose prefixes on S3:
//! `<root>/logs/<result|status>/dt=YYYY-MM-DD/hour=HH/<instance>.json.gz`.

use async_trait::async_trait;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::ports::{LogKind, LogSink, LogSinkError};

/// The file-system `LogSink`. Each `send` appends one complete gzip member to the current
/// hour's file of this instance: concatenated members are themselves valid gzip (gzip -d,
/// Python's gzip and Athena read the whole file), so a file never needs rewriting.
#[derive(Clone)]
pub struct DirLogSink {
    root: PathBuf,
    clock: Arc<dyn Clock>,
    instance: String,
    /// All of this instance's appends go through here: one member at a time per file.
    appending: Arc<Mutex<()>>,
}

impl std::fmt::Debug for DirLogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirLogSink")
            .field("root", &self.root)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

fn refused(path: &Path, e: std::io::Error) -> LogSinkError {
    LogSinkError::Refused(format!("{}: {e}", path.display()))
}

/// The lines, newline-terminated, as one gzip member.
fn gzip_member(lines: &[String]) -> std::io::Result<Vec<u8>> {
    let size: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut encoder = GzEncoder::new(Vec::with_capacity(size / 4 + 64), Compression::default());
    for line in lines {
        encoder.write_all(line.as_bytes())?;
        encoder.write_all(b"\n")?;
    }
    encoder.finish()
}

fn append(path: &Path, member: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no parent"))?;
    fs::create_dir_all(dir)?;
    let created = !path.exists();
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let before = file.metadata()?.len();
    let written = file.write_all(member).and_then(|()| file.sync_data());
    if let Err(e) = written {
        // A torn member would make every later one unreadable: cut it off again.
        let _ = file.set_len(before).and_then(|()| file.sync_data());
        return Err(e);
    }
    if created {
        // Make the new file's directory entry durable too.
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl DirLogSink {
    /// Logs under `<root>/logs/`, in files named after a random instance id.
    pub fn new(root: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self::with_instance(root, clock, &format!("{:016x}", rand::random::<u64>()))
    }

    /// Logs under `<root>/logs/`, in files named `<instance>.json.gz`. Two sinks must not share
    /// an instance name (their appends are not serialised with each other).
    pub fn with_instance(root: impl Into<PathBuf>, clock: Arc<dyn Clock>, instance: &str) -> Self {
        DirLogSink {
            root: root.into(),
            clock,
            instance: instance.to_string(),
            appending: Arc::new(Mutex::new(())),
        }
    }

    /// Where a send of `kind` made now goes.
    pub fn current_path(&self, kind: LogKind) -> PathBuf {
        let now = self.clock.now();
        self.root
            .join("logs")
            .join(kind.as_str())
            .join(now.format("dt=%Y-%m-%d").to_string())
            .join(now.format("hour=%H").to_string())
            .join(format!("{}.json.gz", self.instance))
    }
}

#[async_trait]
impl LogSink for DirLogSink {
    async fn send(&self, kind: LogKind, lines: Vec<String>) -> Result<(), LogSinkError> {
        if lines.is_empty() {
            return Ok(());
        }
        let path = self.current_path(kind);
        let appending = self.appending.clone();
        tokio::task::spawn_blocking(move || {
            let member = gzip_member(&lines).map_err(|e| refused(&path, e))?;
            let _guard = appending
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            append(&path, &member).map_err(|e| refused(&path, e))
        })
        .await
        .map_err(|e| LogSinkError::Refused(format!("log task failed: {e}")))?
    }
}
