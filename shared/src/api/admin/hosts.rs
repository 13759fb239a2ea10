//! Hosts: `GET /api/v1/fleet/hosts` (+ `/count`, `/report`), `GET /host_summary`,
//! `GET/DELETE /api/v1/fleet/hosts/{id}`, `POST /api/v1/fleet/hosts/transfer` (+ `/filter`)
//! and `POST /api/v1/fleet/hosts/delete`. The listings and counts are `domain::host_listing`.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{require_host_access, Id};
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::host_admin;
use crate::domain::host_changes::BulkAction;
use crate::domain::host_listing::{self, HostCount, HostFilter, HostQuery, OrderKey, Scopes};
use crate::domain::host_status::StatusFilter;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, TeamFilter};
use crate::error::{ApiError, ApiResult};

const DEFAULT_PER_PAGE: usize = 100;
/// Fleet's `page` skips rows by reading them: only this deep (use `after` beyond).
const MAX_PAGE_OFFSET: usize = 10_000;

/// Fleet's host list parameters, and `after` (our cursor). The admin UI's Hosts page takes
/// the same ones.
#[derive(Deserialize, Default, Clone)]
pub struct HostParams {
    pub page: Option<usize>,
    pub per_page: Option<usize>,
    pub after: Option<String>,
    /// A team id, `0` for no team (Fleet's convention); several separated by commas.
    pub team_id: Option<String>,
    pub platform: Option<String>,
    pub status: Option<String>,
    pub query: Option<String>,
    pub order_key: Option<String>,
    pub order_direction: Option<String>,
    pub osquery_version: Option<String>,
    pub format: Option<String>,
}

type Params = Result<Query<HostParams>, axum::extract::rejection::QueryRejection>;

fn params(params: Params) -> ApiResult<HostParams> {
    params
        .map(|Query(p)| p)
        .map_err(|_| ApiError::bad_request("page and per_page must be non-negative integers"))
}

pub fn teams_param(text: &str) -> ApiResult<Vec<Option<u64>>> {
    text.split(',')
        .map(|t| match t.trim().parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(id) => Ok(Some(id)),
            Err(_) => Err(ApiError::bad_request(
                "team_id must be a team id (0: no team)",
            )),
        })
        .collect()
}

/// The filter of these parameters, within the teams the principal may see.
fn filter_of(p: &FilterParams, permitted: &TeamFilter) -> ApiResult<HostFilter> {
    // An empty field is no filter, as for the others (an HTML form sends every field).
    let teams = p
        .team_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(teams_param)
        .transpose()?;
    let platform = p.platform.as_deref().filter(|s| !s.is_empty()).map(|s| {
        match s {
            "macos" => "darwin",
            "ubuntu" | "centos" | "rhel" | "debian" | "fedora" => "linux",
            other => other,
        }
        .to_string()
    });
    let status = p
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if let Some(status) = &status {
        if StatusFilter::parse(status).is_none() {
            return Err(ApiError::bad_request(
                "status must be online, offline, new or missing",
            ));
        }
    }
    Ok(HostFilter {
        scopes: Scopes::within(teams.as_deref(), permitted),
        platform,
        status,
        osquery_version: p.osquery_version.clone().filter(|s| !s.is_empty()),
        search: p
            .query
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}

/// The filter fields of the list parameters and of a bulk body's `filters`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FilterParams {
    #[serde(default, deserialize_with = "team_id_text")]
    team_id: Option<String>,
    platform: Option<String>,
    status: Option<String>,
    query: Option<String>,
    osquery_version: Option<String>,
}

/// A team id as a number (JSON bodies) or text (query strings).
fn team_id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(serde::de::Error::custom("team_id must be a number")),
    })
}

impl HostParams {
    fn filter_params(&self) -> FilterParams {
        FilterParams {
            team_id: self.team_id.clone(),
            platform: self.platform.clone(),
            status: self.status.clone(),
            query: self.query.clone(),
            osquery_version: self.osquery_version.clone(),
        }
    }

    /// The filter of these parameters, within the teams `permitted` (a principal's
    /// `teams_with` the permission the caller needs).
    pub fn filter(&self, permitted: &TeamFilter) -> ApiResult<HostFilter> {
        filter_of(&self.filter_params(), permitted)
    }

    /// The listing these parameters ask for, within the teams `permitted`.
    pub fn host_query(&self, permitted: &TeamFilter) -> ApiResult<HostQuery> {
        let order = match self.order_key.as_deref().filter(|s| !s.is_empty()) {
            None => OrderKey::Id,
            Some(key) => OrderKey::parse(key).ok_or_else(|| {
                ApiError::bad_request("order_key must be id, hostname, computer_name or last_seen")
            })?,
        };
        let descending = match self.order_direction.as_deref() {
            None | Some("") | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(ApiError::bad_request("order_direction must be asc or desc")),
        };
        Ok(HostQuery {
            filter: filter_of(&self.filter_params(), permitted)?,
            order,
            descending,
            per_page: self
                .per_page
                .unwrap_or(DEFAULT_PER_PAGE)
                .clamp(1, host_listing::MAX_PER_PAGE),
            cursor: self.after.clone().filter(|s| !s.is_empty()),
        })
    }
}

/// `{"hosts": [...], "next_cursor": ...}`: a page of the listing index (see
/// `domain::host_listing`), within the principal's teams. `after` continues a listing; Fleet's
/// `page` still works, by reading the pages before it, up to 10,000 rows deep.
pub async fn list(
    principal: Principal,
    State(app): State<App>,
    query: Params,
) -> ApiResult<Json<Value>> {
    let p = params(query)?;
    let mut query = p.host_query(&principal.teams_with(Permission::ReadHosts))?;
    let rules = host_listing::status_rules(&app).await?;
    let now = app.clock.unix();
    let page = p.page.unwrap_or(0);
    if page > 0 && query.cursor.is_none() {
        let mut skip = page.saturating_mul(query.per_page);
        if skip > MAX_PAGE_OFFSET {
            return Err(ApiError::bad_request(format!(
                "page reaches past {MAX_PAGE_OFFSET} hosts: use after (next_cursor)"
            )));
        }
        let per_page = query.per_page;
        // Each read is bounded; a bounded number of them reaches the page.
        for _ in 0..(MAX_PAGE_OFFSET / host_listing::MAX_PER_PAGE) * 2 {
            if skip == 0 {
                break;
            }
            query.per_page = skip.min(host_listing::MAX_PER_PAGE);
            let skipped = host_listing::list_page(app.state(), now, &rules, &query).await?;
            skip -= skipped.rows.len();
            query.cursor = skipped.next_cursor;
            if query.cursor.is_none() {
                return Ok(Json(json!({ "hosts": [], "next_cursor": null })));
            }
        }
        query.per_page = per_page;
    }
    let listed = host_listing::list_page(app.state(), now, &rules, &query).await?;
    let hosts: Vec<Value> = listed.rows.iter().map(|h| h.to_json()).collect();
    Ok(Json(
        json!({ "hosts": hosts, "next_cursor": listed.next_cursor }),
    ))
}

/// Fleet's `GET /host_summary?team_id=`, from the counters (`host_listing::summary`).
pub async fn summary(
    principal: Principal,
    State(app): State<App>,
    query: Params,
) -> ApiResult<Json<Value>> {
    let p = params(query)?;
    let teams = p.team_id.as_deref().map(teams_param).transpose()?;
    let scopes = Scopes::within(
        teams.as_deref(),
        &principal.teams_with(Permission::ReadHosts),
    );
    let rules = host_listing::status_rules(&app).await?;
    let s = host_listing::summary(app.state(), app.clock.unix(), &rules, &scopes).await?;
    let pairs = |list: &[(String, i64)], name: &str| -> Vec<Value> {
        list.iter()
            .map(|(what, n)| json!({ name: what, "hosts_count": n }))
            .collect()
    };
    Ok(Json(json!({
        "team_id": teams.as_ref().and_then(|t| (t.len() == 1).then(|| t[0]).flatten()),
        "totals_hosts_count": s.total,
        "online_count": s.online,
        "offline_count": s.offline,
        "mia_count": s.missing,
        "missing_30_days_count": s.missing,
        "new_count": s.new,
        "all_linux_count": s.by_platform.iter().filter(|(p, _)| p == "linux").map(|(_, n)| n).sum::<i64>(),
        "platforms": pairs(&s.by_platform, "platform"),
        "osquery_versions": pairs(&s.by_osquery_version, "osquery_version"),
    })))
}

/// Fleet's `GET /hosts/count` for the list's filters: exact from the counters when the filter
/// is teams and at most one of platform, osquery version or status; otherwise counted over
/// at most 20,000 rows and extrapolated past that (`count_is_estimate: true`).
pub async fn count(
    principal: Principal,
    State(app): State<App>,
    query: Params,
) -> ApiResult<Json<Value>> {
    let p = params(query)?;
    let filter = filter_of(
        &p.filter_params(),
        &principal.teams_with(Permission::ReadHosts),
    )?;
    let rules = host_listing::status_rules(&app).await?;
    let counted = host_listing::count(app.state(), app.clock.unix(), &rules, &filter).await?;
    Ok(Json(
        json!({ "count": counted.count, "count_is_estimate": !counted.exact }),
    ))
}

/// Fleet's `GET /hosts/report?format=csv`: every host the filters match, streamed a page of
/// the index at a time.
pub async fn report(
    principal: Principal,
    State(app): State<App>,
    query: Params,
) -> ApiResult<Response> {
    let p = params(query)?;
    if p.format.as_deref().is_some_and(|f| f != "csv") {
        return Err(ApiError::bad_request("format must be csv"));
    }
    let mut query = p.host_query(&principal.teams_with(Permission::ReadHosts))?;
    query.cursor = None;
    let rules = host_listing::status_rules(&app).await?;
    let stream = host_listing::csv_stream(app.ports.state.clone(), app.clock.unix(), rules, query);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"hosts.csv\"",
        )
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkDelete {
    ids: Option<Vec<u64>>,
    filters: Option<FilterParams>,
}

/// Fleet's `POST /hosts/delete`: `{"ids": [...]}` (at most 1,000, deleted now: 200) or
/// `{"filters": {...}}` (every host matching, within the teams the principal may change
/// hosts of: a job deletes them in steps of 200, so the answer is 202 with the count).
pub async fn delete_bulk(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let request: BulkDelete = parse(body)?;
    match (request.ids, request.filters) {
        (Some(ids), None) => {
            let ids = host_admin::checked_ids(ids, "ids")?;
            host_admin::delete_ids(&app, &principal, &ids, &ip).await?;
            Ok(Json(json!({})).into_response())
        }
        (None, Some(filters)) => {
            let filter = filter_of(&filters, &principal.teams_with(Permission::WriteHosts))?;
            let counted =
                host_admin::start_by_filter(&app, &principal, &ip, BulkAction::Delete, filter)
                    .await?;
            Ok(accepted(counted))
        }
        _ => Err(ApiError::bad_request("give either ids or filters")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferByFilter {
    team_id: Option<u64>,
    filters: FilterParams,
}

/// Fleet's `POST /hosts/transfer/filter`: every host matching the filters (within the teams
/// the principal may change hosts of) moves to `team_id`, by a job in steps: 202 and the count.
pub async fn transfer_by_filter(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let request: TransferByFilter = parse(body)?;
    host_admin::require_destination(&app, &principal, request.team_id).await?;
    let filter = filter_of(
        &request.filters,
        &principal.teams_with(Permission::WriteHosts),
    )?;
    let action = BulkAction::Transfer {
        team_id: request.team_id,
    };
    let counted = host_admin::start_by_filter(&app, &principal, &ip, action, filter).await?;
    Ok(accepted(counted))
}

/// 202 and what the job will work through.
fn accepted(counted: HostCount) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({ "count": counted.count, "count_is_estimate": !counted.exact })),
    )
        .into_response()
}

pub async fn get(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let host = require_host_access(&app, &principal, Permission::ReadHosts, id).await?;
    Ok(Json(json!({ "host": host.to_json(app.clock.now()) })))
}

pub async fn delete(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    host_admin::delete(&app, &principal, id, &ip).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    /// None (or `null`): no team.
    team_id: Option<u64>,
    hosts: Vec<u64>,
}

/// Fleet's `{team_id, hosts: [ids]}`: the principal needs `WriteHosts` on the destination and
/// on every host's current team; nothing moves unless all may.
pub async fn transfer(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: Transfer = parse(body)?;
    let ids = host_admin::checked_ids(request.hosts, "hosts")?;
    host_admin::transfer_ids(&app, &principal, request.team_id, &ids, &ip).await?;
    Ok(Json(json!({})))
}
