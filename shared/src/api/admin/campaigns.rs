//! Live queries: `POST /api/v1/fleet/queries/run`, and the campaigns it makes: get, list,
//! stop, results and errors a page at a time.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Id;
use crate::api::blob_download::{self, Download};
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::campaign_access::{self, RunnableSql};
use crate::domain::campaign_export::{self, Export, ExportFormat, ExportState};
use crate::domain::campaigns::{self, Campaign, CampaignError, CampaignResult, CampaignSummary};
use crate::domain::identity::audit;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::Permission;
use crate::domain::live::Targets;
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    /// SQL to run (observer_plus and up), or
    #[serde(default)]
    query: Option<String>,
    /// a saved query (observers: only those marked `observer_can_run`).
    #[serde(default)]
    query_id: Option<u64>,
    selected: Targets,
}

/// A campaign in the admin API's shape. `responded` (hosts that answered, failures included)
/// and `status` keep the shape `queries/run` always had; `counts`, `not_seen` and the rest
/// are the per-host status.
pub(crate) fn summary_json(summary: &CampaignSummary) -> Value {
    let campaign = &summary.campaign;
    let counts = &summary.counts;
    json!({
        "id": campaign.id,
        "query": campaign.query,
        "selected": campaign.targets,
        "created_at": campaign.created_at.to_rfc3339(),
        "created_by": campaign.created_by,
        "expires_at": chrono::DateTime::from_timestamp(campaign.expires_at, 0).map(|t| t.to_rfc3339()),
        "stopped_at": campaign.stopped_at.map(|t| t.to_rfc3339()),
        "status": summary.status,
        "targeted": summary.targeted,
        "responded": counts.answered + counts.errors,
        "counts": {
            "asked": counts.asked,
            "answered": counts.answered,
            "errors": counts.errors,
            "rows": counts.rows,
            "pending": counts.pending(),
            "not_seen": summary.not_seen(),
        },
    })
}

/// A listed campaign: no counters (one more Query per campaign), the rest as `summary_json`.
fn listed_json(campaign: &Campaign, now: i64) -> Value {
    json!({
        "id": campaign.id,
        "query": campaign.query,
        "selected": campaign.targets,
        "created_at": campaign.created_at.to_rfc3339(),
        "created_by": campaign.created_by,
        "stopped_at": campaign.stopped_at.map(|t| t.to_rfc3339()),
        "status": campaign.status(now),
        "targeted": campaigns::target_count(campaign),
    })
}

/// `?after=<cursor>&per_page=<n>`, and `status=error` on results.
#[derive(Deserialize)]
pub struct PageParams {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    per_page: Option<usize>,
    #[serde(default)]
    status: Option<String>,
}

type PageQuery = Result<Query<PageParams>, QueryRejection>;

fn page_params(params: PageQuery) -> ApiResult<PageParams> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if params.per_page == Some(0) {
        return Err(ApiError::bad_request("per_page must be at least 1"));
    }
    Ok(params)
}

/// The campaign if the caller may see it; 404 otherwise, the same as a missing one.
async fn visible_campaign(app: &App, principal: &Principal, id: u64) -> ApiResult<Campaign> {
    campaign_access::visible(app, principal, id).await
}

pub async fn run(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: RunRequest = parse(body)?;
    let RunnableSql { sql, permission } =
        campaign_access::runnable(&app, request.query.as_deref(), request.query_id).await?;
    let targets =
        campaign_access::allowed_targets(&app, &principal, permission, request.selected).await?;
    let campaign = campaigns::create(&app, &sql, targets, principal.user_id()).await?;
    audit::record(
        &app,
        principal.actor(),
        "live_query",
        json!({"campaign_id": campaign.id, "query_id": request.query_id, "query_sql": sql, "targets_count": campaign.targeted}),
        &ip,
    )
    .await?;
    let summary = campaigns::summary(&app, campaign).await?;
    Ok(Json(json!({ "campaign": summary_json(&summary) })))
}

/// `GET /api/v1/fleet/campaigns/{id}/results?after=&per_page=`: one page of results from the
/// hosts the principal may see, with `next_cursor` (null at the end). `status=error` lists
/// the failures instead (as `/errors` does).
pub async fn results(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
    params: PageQuery,
) -> ApiResult<Json<Value>> {
    let params = page_params(params)?;
    let campaign = visible_campaign(&app, &principal, id).await?;
    let visible = principal.teams_with(Permission::ReadCampaigns);
    let per_page = params.per_page.unwrap_or(campaigns::MAX_PAGE);
    let summary = campaigns::summary(&app, campaign).await?;
    match params.status.as_deref() {
        None => {}
        Some("error") => {
            let page =
                campaigns::errors_page(&app, id, params.after.as_deref(), per_page, &visible)
                    .await?;
            return Ok(Json(json!({
                "campaign": summary_json(&summary),
                "errors": page.errors.iter().map(error_json).collect::<Vec<_>>(),
                "next_cursor": page.next_cursor,
            })));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status {other:?}: only \"error\" filters results"
            )))
        }
    }
    let page =
        campaigns::results_page(&app, id, params.after.as_deref(), per_page, &visible).await?;
    let entries: Vec<Value> = page.results.iter().map(result_json).collect();
    Ok(Json(json!({
        "campaign": summary_json(&summary),
        "results": entries,
        "next_cursor": page.next_cursor,
    })))
}

pub(crate) fn result_json(r: &CampaignResult) -> Value {
    let mut entry = json!({
        "host_id": r.host_id,
        "hostname": r.hostname,
        "rows": r.rows,
        "error": r.error,
        "stats": r.stats,
        "received_at": r.received_at.to_rfc3339(),
    });
    if r.rows_omitted {
        entry["rows_omitted"] = json!(true);
    }
    entry
}

fn error_json(e: &CampaignError) -> Value {
    json!({
        "host_id": e.host_id,
        "hostname": e.hostname,
        "error": e.error,
        "received_at": e.received_at.to_rfc3339(),
    })
}

/// `GET /api/v1/fleet/campaigns/{id}/errors?after=&per_page=`: hosts whose answer failed.
pub async fn errors(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
    params: PageQuery,
) -> ApiResult<Json<Value>> {
    let params = page_params(params)?;
    visible_campaign(&app, &principal, id).await?;
    let visible = principal.teams_with(Permission::ReadCampaigns);
    let page = campaigns::errors_page(
        &app,
        id,
        params.after.as_deref(),
        params.per_page.unwrap_or(campaigns::MAX_PAGE),
        &visible,
    )
    .await?;
    Ok(Json(json!({
        "errors": page.errors.iter().map(error_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

/// `GET /api/v1/fleet/campaigns/{id}`: the campaign, its status and counters.
pub async fn get(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let campaign = visible_campaign(&app, &principal, id).await?;
    let summary = campaigns::summary(&app, campaign).await?;
    Ok(Json(json!({ "campaign": summary_json(&summary) })))
}

/// `GET /api/v1/fleet/campaigns?after=&per_page=` (at most 100): recent campaigns, newest
/// first, those the caller's teams may see.
pub async fn list(
    principal: Principal,
    State(app): State<App>,
    params: PageQuery,
) -> ApiResult<Json<Value>> {
    let params = page_params(params)?;
    let visible = principal.teams_with(Permission::ReadCampaigns);
    let page = campaigns::list_recent(
        &app,
        params.after.as_deref(),
        params.per_page.unwrap_or(20),
        &visible,
    )
    .await?;
    let now = app.clock.unix();
    Ok(Json(json!({
        "campaigns": page.campaigns.iter().map(|c| listed_json(c, now)).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

/// `POST /api/v1/fleet/campaigns/{id}/stop`: hosts are no longer handed it; results stay.
/// Its creator may stop it; so may whoever may run any SQL on every team it touches.
pub async fn stop(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let campaign = visible_campaign(&app, &principal, id).await?;
    campaign_access::require_can_stop(&principal, &campaign)?;
    let stopped = campaigns::stop(&app, id).await?;
    audit::record(
        &app,
        principal.actor(),
        "stopped_live_query",
        json!({"campaign_id": id, "query_sql": stopped.query}),
        &ip,
    )
    .await?;
    let summary = campaigns::summary(&app, stopped).await?;
    Ok(Json(json!({ "campaign": summary_json(&summary) })))
}

/// `?format=csv|ndjson`.
#[derive(Deserialize)]
pub struct FormatParams {
    format: String,
}

type FormatQuery = Result<Query<FormatParams>, QueryRejection>;

fn export_format(params: FormatQuery) -> ApiResult<ExportFormat> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    ExportFormat::parse(&params.format)
        .ok_or_else(|| ApiError::bad_request("format must be csv or ndjson"))
}

fn download_path(id: u64, format: ExportFormat) -> String {
    format!(
        "/api/v1/fleet/campaigns/{id}/export/download?format={}",
        format.as_str()
    )
}

async fn export_json(app: &App, export: &Export) -> ApiResult<Value> {
    let url = if export.state == ExportState::Done {
        match campaign_export::presigned_url(app, export).await? {
            Some(url) => Some(url),
            None => Some(download_path(export.campaign_id, export.format)),
        }
    } else {
        None
    };
    Ok(json!({
        "campaign_id": export.campaign_id,
        "format": export.format,
        "state": export.state,
        "requested_at": export.requested_at.to_rfc3339(),
        "finished_at": export.finished_at.map(|t| t.to_rfc3339()),
        "size": export.size,
        "hosts": export.hosts,
        "rows": export.rows,
        "error": export.error,
        "url": url,
        "url_expires_in": url.as_ref().map(|_| campaign_export::URL_TTL.as_secs()),
    }))
}

/// `POST /api/v1/fleet/campaigns/{id}/export?format=csv|ndjson`: queues the export of every
/// result the caller may see (202); poll `GET` on the same path for its state and URL.
pub async fn export(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
    params: FormatQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let format = export_format(params)?;
    let campaign = visible_campaign(&app, &principal, id).await?;
    let visible = principal.teams_with(Permission::ReadCampaigns);
    let export =
        campaign_export::request(&app, &campaign, format, &visible, principal.user_id()).await?;
    audit::record(
        &app,
        principal.actor(),
        "exported_live_query_results",
        json!({"campaign_id": id, "format": format}),
        &ip,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "export": export_json(&app, &export).await? })),
    ))
}

/// `GET /api/v1/fleet/campaigns/{id}/export?format=`: the export's state; once done, `url`.
pub async fn export_status(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
    params: FormatQuery,
) -> ApiResult<Json<Value>> {
    let format = export_format(params)?;
    visible_campaign(&app, &principal, id).await?;
    let visible = principal.teams_with(Permission::ReadCampaigns);
    let export = campaign_export::get(&app, id, format, &visible)
        .await?
        .ok_or_else(|| ApiError::not_found("no export of this campaign in this format"))?;
    Ok(Json(json!({ "export": export_json(&app, &export).await? })))
}

/// `GET /api/v1/fleet/campaigns/{id}/export/download?format=`: the finished export, as a
/// redirect to a presigned URL (S3) or the bytes (locally), for the same caller scope.
pub async fn export_download(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
    params: FormatQuery,
) -> ApiResult<Response> {
    let format = export_format(params)?;
    visible_campaign(&app, &principal, id).await?;
    let visible = principal.teams_with(Permission::ReadCampaigns);
    let export = campaign_export::get(&app, id, format, &visible)
        .await?
        .ok_or_else(|| ApiError::not_found("no export of this campaign in this format"))?;
    if export.state != ExportState::Done {
        return Err(ApiError::Conflict("the export is not finished".into()));
    }
    let file_name = export.file_name();
    blob_download::serve(
        app.ports.blobs.clone(),
        Download {
            name: export.blob.clone(),
            size: export.size,
            file_name: &file_name,
            content_type: format.content_type(),
            url_ttl: campaign_export::URL_TTL,
        },
    )
    .await
}
