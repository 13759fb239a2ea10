//! Distributed read and write for one authenticated host.

use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::campaigns::{self, CampaignResult};
use super::detail_queries::{self, Vitals};
use super::host_auth::{self, HostAuth, DETAIL_RETRY_SECS};
use super::{host_index, layout, records, refetch};
use crate::app::AppInner;
use crate::error::ApiError;

pub const CAMPAIGN_PREFIX: &str = "fleet_distributed_query_";

/// What a distributed read hands a host: queries, and discovery queries that decide whether
/// osquery runs the query of the same name.
#[derive(Debug, Default)]
pub struct Handed {
    pub queries: Map<String, Value>,
    pub discovery: Map<String, Value>,
}

impl Handed {
    fn detail_queries(&mut self, platform_family: &str) {
        for (name, sql) in detail_queries::queries_for(platform_family) {
            self.queries.insert(name, Value::String(sql.to_string()));
        }
        for (name, sql) in detail_queries::discovery_for(platform_family) {
            self.discovery.insert(name, Value::String(sql.to_string()));
        }
    }
}

/// The queries to hand a host; empty in the steady state, and then free of store calls.
pub async fn read(app: &AppInner, auth: Arc<HostAuth>) -> Result<Handed, ApiError> {
    let snapshot = app.live.current(app).await?;
    let now = app.clock.unix();
    let mut handed = Handed::default();
    for campaign in &snapshot.campaigns {
        if campaign.expires_at > now
            && campaign
                .targets
                .includes(auth.host_id, auth.team_id, auth.platform_family())
            && campaigns::mark_asked(app, campaign, auth.host_id).await?
        {
            handed.queries.insert(
                format!("{CAMPAIGN_PREFIX}{}", campaign.id),
                Value::String(campaign.query.clone()),
            );
        }
    }
    if refetch::due(&snapshot, &auth, now) {
        // An admin asked for fresh vitals (Fleet's refetch): no reload needed, the snapshot
        // that carried the request is current.
        auth.detail_asked_at.store(now, Ordering::Relaxed);
        handed.detail_queries(auth.platform_family());
    } else if auth.vitals_due(now)
        && now - auth.detail_asked_at.load(Ordering::Relaxed) >= DETAIL_RETRY_SECS
    {
        // The cached entry may predate an ingestion on another instance: check first,
        // unless this is a new host that has never been asked.
        let auth = if auth.vitals_at.load(Ordering::Relaxed) > 0
            || auth.detail_asked_at.load(Ordering::Relaxed) > 0
        {
            host_auth::reload(app, &auth).await?
        } else {
            auth
        };
        if auth.vitals_due(now) {
            auth.detail_asked_at.store(now, Ordering::Relaxed);
            handed.detail_queries(auth.platform_family());
        }
    }
    Ok(handed)
}

/// A distributed write, validated.
#[derive(Debug, Default)]
pub struct Answers {
    pub queries: Map<String, Value>,
    pub statuses: Map<String, Value>,
    pub messages: Map<String, Value>,
    pub stats: Map<String, Value>,
}

fn rows_of(name: &str, value: &Value) -> Result<Vec<Map<String, Value>>, ApiError> {
    match value {
        // osquery sends "" for a query that returned no rows.
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::Null => Ok(Vec::new()),
        Value::Array(rows) => rows
            .iter()
            .map(|row| {
                row.as_object().cloned().ok_or_else(|| {
                    ApiError::bad_request(format!("queries.{name}: every row must be an object"))
                })
            })
            .collect(),
        _ => Err(ApiError::bad_request(format!(
            "queries.{name} must be an array of rows or \"\""
        ))),
    }
}

fn status_of(name: &str, value: Option<&Value>) -> Result<i64, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ApiError::bad_request(format!("statuses.{name} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| ApiError::bad_request(format!("statuses.{name} must be an integer"))),
        Some(_) => Err(ApiError::bad_request(format!(
            "statuses.{name} must be an integer"
        ))),
    }
}

/// Stores a host's answers: campaign results (only for campaigns it was handed) and vitals.
pub async fn write(app: &AppInner, auth: &HostAuth, answers: Answers) -> Result<(), ApiError> {
    let mut names: Vec<&String> = answers
        .queries
        .keys()
        .chain(answers.statuses.keys())
        .chain(answers.messages.keys())
        .collect();
    names.sort();
    names.dedup();

    // Validate everything before writing anything.
    let mut campaign_results = Vec::new();
    let mut details = Vec::new();
    for name in names {
        let rows = match answers.queries.get(name) {
            Some(value) => rows_of(name, value)?,
            None => Vec::new(),
        };
        let status = status_of(name, answers.statuses.get(name))?;
        let message = match answers.messages.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "messages.{name} must be a string"
                )))
            }
        };
        if let Some(id) = name.strip_prefix(CAMPAIGN_PREFIX) {
            let Ok(id) = id.parse::<u64>() else { continue };
            let error = message
                .or_else(|| (status != 0).then(|| format!("query failed with status {status}")));
            campaign_results.push((id, rows, error, answers.stats.get(name).cloned()));
        } else if let Some(detail) = name.strip_prefix(detail_queries::PREFIX) {
            if status == 0 {
                details.push((detail.to_string(), rows));
            }
        }
    }

    let received_at = app.clock.now();
    for (id, rows, error, stats) in campaign_results {
        let result = CampaignResult {
            host_id: auth.host_id,
            hostname: auth.hostname.clone(),
            rows,
            error,
            stats,
            received_at,
            rows_blob: None,
            team_id: auth.team_id,
            team_recorded: true,
            rows_omitted: false,
        };
        if !campaigns::record_result(app, id, auth.team_id, result).await? {
            tracing::debug!(
                host_id = auth.host_id,
                campaign = id,
                "ignored answer to a campaign not asked, or already answered"
            );
        }
    }

    if !details.is_empty() {
        let vitals = records::update(
            app.ports.state.as_ref(),
            &layout::host_vitals(auth.host_id),
            None,
            |current: Option<Vitals>| {
                let mut vitals = current.unwrap_or_default();
                let mut known = false;
                for (name, rows) in &details {
                    known |= vitals.ingest(name, rows);
                }
                if known {
                    vitals.updated_at = received_at;
                }
                Ok(vitals)
            },
        )
        .await?;
        auth.vitals_at
            .store(vitals.updated_at.timestamp(), Ordering::Relaxed);
        // The listing row follows the reported host name, address, platform and version.
        host_index::vitals_changed(
            app.ports.state.as_ref(),
            received_at.timestamp(),
            auth.host_id,
            &vitals,
        )
        .await?;
        let snapshot = app.live.current(app).await?;
        refetch::answered(app, &snapshot, auth.host_id).await?;
    }
    Ok(())
}
