//! The log sink port: where osquery result and status lines go. Both adapters end with gzip
//! JSON-lines objects under `logs/<result|status>/dt=YYYY-MM-DD/hour=HH/`.

use async_trait::async_trait;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    Result,
    Status,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Result => "result",
            LogKind::Status => "status",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogSinkError {
    #[error("log sink refused the lines: {0}")]
    Refused(String),
}

#[async_trait]
pub trait LogSink: Send + Sync + 'static {
    /// Accept every line durably, or fail so that the agent resends them all.
    /// Each line is one JSON object without a trailing newline.
    async fn send(&self, kind: LogKind, lines: Vec<String>) -> Result<(), LogSinkError>;
}
