//! osquery logs into Kinesis Data Firehose, one delivery stream per log kind; Firehose batches
//! them into gzip objects on S3 under `logs/<kind>/dt=YYYY-MM-DD/hour=HH/` (template.yaml).

use async_trait::async_trait;
use aws_sdk_firehose::error::DisplayErrorContext;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use aws_sdk_firehose::Client;
use std::time::Duration;

use crate::ports::{LogKind, LogSink, LogSinkError};

/// Firehose's limit on one record (before base64): 1,000 KiB.
pub const RECORD_MAX_BYTES: usize = 1_000 * 1024;
/// PutRecordBatch's limits per call.
const CALL_MAX_RECORDS: usize = 500;
const CALL_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Resends of the records Firehose failed to take, before giving up.
const RETRIES: u32 = 3;

/// The Firehose `LogSink`.
///
/// Firehose bills ingestion per record rounded up to 5 KB, and osquery lines are mostly far
/// smaller: one record per line would be billed many times its size. So the lines of a send
/// are packed into as few records as possible (newline-terminated lines, up to 1,000 KiB per
/// record), which for an ordinary agent request is a single record: the cheapest shape. The
/// delivered objects are the same JSON lines either way.
#[derive(Debug, Clone)]
pub struct FirehoseLogSink {
    client: Client,
    result_stream: String,
    status_stream: String,
}

fn refused(why: impl Into<String>) -> LogSinkError {
    LogSinkError::Refused(why.into())
}

/// The lines as newline-terminated records of at most `RECORD_MAX_BYTES`, in order.
/// A line cannot be split across records (a consumer would see two broken JSON lines).
pub fn pack_records(lines: &[String]) -> Result<Vec<Vec<u8>>, LogSinkError> {
    let mut records = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for line in lines {
        let size = line.len() + 1;
        if size > RECORD_MAX_BYTES {
            return Err(refused(format!(
                "a log line of {} bytes is over Firehose's record limit of {RECORD_MAX_BYTES} bytes",
                line.len()
            )));
        }
        if current.len() + size > RECORD_MAX_BYTES {
            records.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(line.as_bytes());
        current.push(b'\n');
    }
    if !current.is_empty() {
        records.push(current);
    }
    Ok(records)
}

/// Consecutive records grouped within PutRecordBatch's per-call limits.
fn calls(records: Vec<Vec<u8>>) -> Vec<Vec<Vec<u8>>> {
    let mut calls = Vec::new();
    let mut call: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0;
    for record in records {
        if !call.is_empty()
            && (call.len() == CALL_MAX_RECORDS || bytes + record.len() > CALL_MAX_BYTES)
        {
            calls.push(std::mem::take(&mut call));
            bytes = 0;
        }
        bytes += record.len();
        call.push(record);
    }
    if !call.is_empty() {
        calls.push(call);
    }
    calls
}

impl FirehoseLogSink {
    pub fn new(
        client: Client,
        result_stream: impl Into<String>,
        status_stream: impl Into<String>,
    ) -> Self {
        FirehoseLogSink {
            client,
            result_stream: result_stream.into(),
            status_stream: status_stream.into(),
        }
    }

    fn stream(&self, kind: LogKind) -> &str {
        match kind {
            LogKind::Result => &self.result_stream,
            LogKind::Status => &self.status_stream,
        }
    }

    /// One PutRecordBatch, resending only the records Firehose reports as failed.
    async fn put_batch(&self, stream: &str, mut pending: Vec<Vec<u8>>) -> Result<(), LogSinkError> {
        let mut attempt = 0;
        loop {
            let records = pending
                .iter()
                .map(|data| Record::builder().data(Blob::new(data.clone())).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| refused(format!("Firehose record: {e}")))?;
            let out = self
                .client
                .put_record_batch()
                .delivery_stream_name(stream)
                .set_records(Some(records))
                .send()
                .await
                .map_err(|e| {
                    refused(format!(
                        "Firehose PutRecordBatch {stream}: {}",
                        DisplayErrorContext(&e)
                    ))
                })?;
            if out.failed_put_count() == 0 {
                return Ok(());
            }
            let mut last_error = String::new();
            let mut failed = Vec::new();
            for (data, response) in pending.into_iter().zip(out.request_responses()) {
                if let Some(code) = response.error_code() {
                    last_error =
                        format!("{code}: {}", response.error_message().unwrap_or_default());
                    failed.push(data);
                }
            }
            if failed.is_empty() {
                // A failure count without per-record errors: nothing can be resent selectively.
                return Err(refused(format!(
                    "Firehose PutRecordBatch {stream}: {} records failed without an error code",
                    out.failed_put_count()
                )));
            }
            if attempt == RETRIES {
                return Err(refused(format!(
                    "Firehose PutRecordBatch {stream}: {} records still failing after {RETRIES} retries ({last_error})",
                    failed.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            attempt += 1;
            pending = failed;
        }
    }
}

#[async_trait]
impl LogSink for FirehoseLogSink {
    /// A failure after some records went through makes the agent resend every line, so those
    /// reach S3 twice: log delivery is at least once.
    async fn send(&self, kind: LogKind, lines: Vec<String>) -> Result<(), LogSinkError> {
        let records = pack_records(&lines)?;
        let stream = self.stream(kind);
        for call in calls(records) {
            self.put_batch(stream, call).await?;
        }
        Ok(())
    }
}
