//! Exporting a campaign's results (every row of every host) to one blob, CSV or NDJSON.
//!
//! Asynchronous: at 100,000 hosts the rows do not fit one Lambda request (6 MB answer, 29 s),
//! so `request` records the export's state (`CAMPAIGN#<id>/EXPORT#<format>#<scope>`) and queues
//! an `export_campaign` job; the jobs function pages the results (`MAX_PAGE` results or
//! `PAGE_BUDGET` bytes at a time), writes them out 8 MiB at a time (multipart above that),
//! and marks it done. Memory stays at about one page plus one part. The UI polls `get` and
//! downloads from the URL it gives (a presigned S3 URL on AWS; the API's own download route
//! locally).
//!
//! An export is made for the caller's team scope (a team user's has its teams' hosts only),
//! so each scope has its own item and blob. CSV columns are `host_id`, `hostname`, then the
//! keys of the rows of the first page that has any (the rows of one query share their
//! columns); a key seen only later is left out. Failed answers have no rows and are not in
//! the export (the errors list has them).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

use super::campaigns::{self, Campaign, MAX_PAGE, RESULTS_RETENTION_SECS};
use super::identity::roles::TeamFilter;
use super::layout;
use crate::app::AppInner;
use crate::error::ApiError;
use crate::jobs::Job;
use crate::ports::{BlobStore, CompletedPart, Cond, Item, WriteOp};

/// Above S3's 5 MiB part minimum; one part is held in memory while it is written.
const PART: usize = 8 * 1024 * 1024;
/// Rows read per page before they are written out.
const PAGE_BUDGET: usize = 8 * 1024 * 1024;
/// A queued or running export younger than this is not queued again (a worker that died is
/// taken over after it).
const STALLED_AFTER_SECS: i64 = 15 * 60;
/// How long a download URL works.
pub const URL_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

impl ExportFormat {
    pub fn parse(value: &str) -> Option<ExportFormat> {
        match value {
            "csv" => Some(ExportFormat::Csv),
            "ndjson" => Some(ExportFormat::Ndjson),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    Queued,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Export {
    pub campaign_id: u64,
    pub format: ExportFormat,
    /// The teams whose hosts it holds; None: all hosts (a global role's).
    pub teams: Option<Vec<u64>>,
    pub state: ExportState,
    pub requested_at: DateTime<Utc>,
    pub requested_by: Option<u64>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    pub blob: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub hosts: u64,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub error: Option<String>,
}

impl Export {
    pub fn file_name(&self) -> String {
        format!("campaign-{}.{}", self.campaign_id, self.format.as_str())
    }

    fn filter(&self) -> TeamFilter {
        match &self.teams {
            None => TeamFilter::All,
            Some(teams) => TeamFilter::Only(teams.clone()),
        }
    }
}

/// The export's name within its campaign: format and team scope.
fn export_name(format: ExportFormat, filter: &TeamFilter) -> String {
    match filter {
        TeamFilter::All => format!("{}#all", format.as_str()),
        TeamFilter::Only(teams) => {
            let mut teams = teams.clone();
            teams.sort_unstable();
            let teams: Vec<String> = teams.iter().map(u64::to_string).collect();
            format!("{}#t{}", format.as_str(), teams.join("-"))
        }
    }
}

/// The export of this format for this scope, if one was asked for.
pub async fn get(
    app: &AppInner,
    campaign_id: u64,
    format: ExportFormat,
    filter: &TeamFilter,
) -> Result<Option<Export>, ApiError> {
    let key = layout::campaign_export(campaign_id, &export_name(format, filter));
    match app.state().get(&key).await? {
        Some(item) => Ok(Some(item.decode()?)),
        None => Ok(None),
    }
}

async fn save(app: &AppInner, export: &Export) -> Result<(), ApiError> {
    let name = export_name(export.format, &export.filter());
    let item = Item::encode(layout::campaign_export(export.campaign_id, &name), export)?
        .with_expiry(export.requested_at.timestamp() + RESULTS_RETENTION_SECS);
    app.state()
        .write(vec![WriteOp::Put {
            item,
            cond: Cond::None,
        }])
        .await?;
    Ok(())
}

/// Queues an export of the campaign's results (as `filter` may see them), unless one is
/// already queued or running. Answers its state.
pub async fn request(
    app: &AppInner,
    campaign: &Campaign,
    format: ExportFormat,
    filter: &TeamFilter,
    requested_by: Option<u64>,
) -> Result<Export, ApiError> {
    let now = app.clock.now();
    if let Some(current) = get(app, campaign.id, format, filter).await? {
        let busy = matches!(current.state, ExportState::Queued | ExportState::Running);
        if busy && now.timestamp() - current.requested_at.timestamp() < STALLED_AFTER_SECS {
            return Ok(current);
        }
    }
    let name = export_name(format, filter);
    let export = Export {
        campaign_id: campaign.id,
        format,
        teams: match filter {
            TeamFilter::All => None,
            TeamFilter::Only(teams) => Some(teams.clone()),
        },
        state: ExportState::Queued,
        requested_at: now,
        requested_by,
        finished_at: None,
        blob: format!(
            "campaign-exports/{}/{}.{}",
            campaign.id,
            name.replace('#', "-"),
            format.as_str()
        ),
        size: 0,
        hosts: 0,
        rows: 0,
        error: None,
    };
    save(app, &export).await?;
    let job = Job::ExportCampaign {
        campaign: campaign.id,
        export: name,
    };
    if let Err(err) = app.ports.queue.send(&job.to_message()?).await {
        let failed = Export {
            state: ExportState::Failed,
            error: Some("could not queue the export, ask again".into()),
            ..export
        };
        save(app, &failed).await?;
        return Err(err.into());
    }
    Ok(export)
}

/// Where the finished export can be fetched: a presigned URL when the blob store gives them
/// (S3), else None (the API serves the bytes itself).
pub async fn presigned_url(app: &AppInner, export: &Export) -> Result<Option<String>, ApiError> {
    Ok(app.ports.blobs.presigned_get(&export.blob, URL_TTL).await?)
}

/// The blob being written: 8 MiB parts of a multipart upload once there is more than one.
struct BlobWriter<'a> {
    blobs: &'a dyn BlobStore,
    name: &'a str,
    buffer: Vec<u8>,
    upload: Option<String>,
    parts: Vec<CompletedPart>,
    size: u64,
}

impl<'a> BlobWriter<'a> {
    fn new(blobs: &'a dyn BlobStore, name: &'a str) -> Self {
        BlobWriter {
            blobs,
            name,
            buffer: Vec::with_capacity(PART),
            upload: None,
            parts: Vec::new(),
            size: 0,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        self.buffer.extend_from_slice(bytes);
        self.size += bytes.len() as u64;
        if self.buffer.len() >= PART {
            self.flush_part().await?;
        }
        Ok(())
    }

    async fn flush_part(&mut self) -> Result<(), ApiError> {
        let upload = match &self.upload {
            Some(id) => id.clone(),
            None => {
                let id = self.blobs.create_multipart(self.name).await?;
                self.upload = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as u32 + 1;
        let body = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(PART),
        ));
        let etag = self
            .blobs
            .upload_part(self.name, &upload, number, body)
            .await?;
        self.parts.push(CompletedPart { number, etag });
        Ok(())
    }

    async fn finish(mut self) -> Result<u64, ApiError> {
        match self.upload.clone() {
            None => {
                let body = Bytes::from(std::mem::take(&mut self.buffer));
                self.blobs.put(self.name, body).await?;
            }
            Some(upload) => {
                if !self.buffer.is_empty() {
                    self.flush_part().await?;
                }
                self.blobs
                    .complete_multipart(self.name, &upload, &self.parts)
                    .await?;
            }
        }
        Ok(self.size)
    }

    async fn abort(&self) {
        if let Some(upload) = &self.upload {
            let _ = self.blobs.abort_multipart(self.name, upload).await;
        }
    }
}

/// A cell's text: osquery sends strings; anything else is written as JSON.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The job: writes the export's blob and marks it done (or failed, and the job is retried).
pub async fn run(app: &AppInner, campaign_id: u64, name: &str) -> Result<(), ApiError> {
    let key = layout::campaign_export(campaign_id, name);
    let Some(item) = app.state().get(&key).await? else {
        return Ok(()); // gone with its campaign
    };
    let mut export: Export = item.decode()?;
    if export.state == ExportState::Done {
        return Ok(()); // a redelivered job
    }
    export.state = ExportState::Running;
    save(app, &export).await?;
    let blob = export.blob.clone();
    let mut writer = BlobWriter::new(app.ports.blobs.as_ref(), &blob);
    match write_all(app, &export, &mut writer).await {
        Ok((hosts, rows)) => {
            export.size = writer.finish().await?;
            export.hosts = hosts;
            export.rows = rows;
            export.state = ExportState::Done;
            export.error = None;
            export.finished_at = Some(app.clock.now());
            save(app, &export).await
        }
        Err(err) => {
            writer.abort().await;
            export.state = ExportState::Failed;
            export.error = Some("the export failed; it is retried".into());
            save(app, &export).await?;
            Err(err)
        }
    }
}

async fn write_all(
    app: &AppInner,
    export: &Export,
    writer: &mut BlobWriter<'_>,
) -> Result<(u64, u64), ApiError> {
    let filter = export.filter();
    let mut cursor: Option<String> = None;
    let mut columns: Option<Vec<String>> = None;
    let (mut hosts, mut rows) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        let page = campaigns::page_of_results(
            app,
            export.campaign_id,
            cursor.as_deref(),
            MAX_PAGE,
            &filter,
            PAGE_BUDGET,
            false,
        )
        .await?;
        for result in &page.results {
            if result.rows.is_empty() {
                continue;
            }
            hosts += 1;
            if export.format == ExportFormat::Csv && columns.is_none() {
                let mut keys: Vec<String> = Vec::new();
                for row in page.results.iter().flat_map(|r| &r.rows) {
                    for key in row.keys() {
                        if !keys.contains(key) {
                            keys.push(key.clone());
                        }
                    }
                }
                line.clear();
                super::csv_record::write(
                    &mut line,
                    ["host_id".to_string(), "hostname".to_string()]
                        .into_iter()
                        .chain(keys.iter().cloned()),
                );
                writer.write(&line).await?;
                columns = Some(keys);
            }
            for row in &result.rows {
                rows += 1;
                line.clear();
                match export.format {
                    ExportFormat::Csv => super::csv_record::write(
                        &mut line,
                        [result.host_id.to_string(), result.hostname.clone()]
                            .into_iter()
                            .chain(columns.iter().flatten().map(|column| cell(row.get(column)))),
                    ),
                    ExportFormat::Ndjson => {
                        let mut object = Map::new();
                        object.insert("host_id".into(), result.host_id.into());
                        object.insert("hostname".into(), result.hostname.clone().into());
                        object.insert("row".into(), Value::Object(row.clone()));
                        serde_json::to_writer(&mut line, &object)
                            .map_err(|e| ApiError::Internal(e.to_string()))?;
                        line.push(b'\n');
                    }
                }
                writer.write(&line).await?;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((hosts, rows)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_named_per_format_and_scope() {
        assert_eq!(export_name(ExportFormat::Csv, &TeamFilter::All), "csv#all");
        assert_eq!(
            export_name(ExportFormat::Ndjson, &TeamFilter::Only(vec![3, 1])),
            "ndjson#t1-3"
        );
    }
}
