//! Live-query campaigns: created by an admin, handed once to each targeted host through
//! distributed read, answered through distributed write; read back a page at a time by
//! cursor, with per-campaign counters kept as answers arrive, so that a campaign of 100,000
//! hosts is never read whole by one request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::time::Duration;

use super::host_listing::{self, Scopes};
use super::hosts;
use super::identity::roles::TeamFilter;
use super::layout;
use super::live::{LiveCampaign, Targets};
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::state::{batch_get_all, query_all};
use crate::ports::{Cond, Item, Query, StateStore, StoreError, WriteOp};

/// How long hosts are handed a campaign's query after it was created.
pub const CAMPAIGN_TTL_SECS: i64 = 3600;
/// How long a campaign and its results are kept (the data bucket's rule for
/// `campaign-results/` matches).
pub const RESULTS_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// Rows above this size go to the blob store: DynamoDB items stop at 400 KB.
const INLINE_ROWS_MAX_BYTES: usize = 300_000;
const MAX_QUERY_LEN: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: u64,
    pub query: String,
    pub targets: Targets,
    pub created_at: DateTime<Utc>,
    pub expires_at: i64,
    /// Existing hosts the targets matched when the campaign was created.
    pub targeted: u64,
    /// The user who ran it (None: the break-glass token, or a campaign from before this field).
    #[serde(default)]
    pub created_by: Option<u64>,
    /// The teams of the hosts named in `targets.hosts` when it was created, so that listings
    /// can be filtered to a team user's teams without reading any host.
    #[serde(default)]
    pub host_teams: Vec<u64>,
    /// Whether a host named in `targets.hosts` was in no team (only global roles reach those).
    #[serde(default)]
    pub unteamed_hosts: bool,
    /// Set by `stop`: hosts are no longer handed it; results already in are kept.
    #[serde(default)]
    pub stopped_at: Option<DateTime<Utc>>,
}

/// A campaign's state as the admin API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Hosts that check in are handed the query.
    Running,
    Stopped,
    /// Past `CAMPAIGN_TTL_SECS`: no longer handed out.
    Expired,
}

impl Campaign {
    pub fn status(&self, now: i64) -> CampaignStatus {
        if self.stopped_at.is_some() {
            CampaignStatus::Stopped
        } else if now >= self.expires_at {
            CampaignStatus::Expired
        } else {
            CampaignStatus::Running
        }
    }

    /// Whether a caller who may read campaigns on these teams sees this campaign: a global
    /// role sees all; a team role those that target all hosts, one of its teams, or a host
    /// that was in one of its teams (its results are filtered per host anyway).
    pub fn visible_to(&self, filter: &TeamFilter) -> bool {
        match filter {
            TeamFilter::All => true,
            TeamFilter::Only(teams) => {
                self.targets.all
                    || self.targets.teams.iter().any(|t| teams.contains(t))
                    || self.host_teams.iter().any(|t| teams.contains(t))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignResult {
    pub host_id: u64,
    pub hostname: String,
    #[serde(default)]
    pub rows: Vec<Map<String, Value>>,
    pub error: Option<String>,
    pub stats: Option<Value>,
    pub received_at: DateTime<Utc>,
    /// Set when the rows were too large for the item and live in the blob store.
    #[serde(default)]
    pub rows_blob: Option<String>,
    /// The host's team when it answered, so results are filtered by team without a host read
    /// (`team_recorded` false: an answer stored before this field, whose host is read).
    #[serde(default)]
    pub team_id: Option<u64>,
    #[serde(default)]
    pub team_recorded: bool,
    /// Set on a page (never stored) when the rows were left out to keep the answer under
    /// Lambda's 6 MB: the export has them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rows_omitted: bool,
}

/// A failed answer, as the errors list shows it (`ERROR#<host>` items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignError {
    pub host_id: u64,
    pub hostname: String,
    pub error: String,
    pub received_at: DateTime<Utc>,
    #[serde(default)]
    pub team_id: Option<u64>,
}

/// The campaign's counters, kept as answers arrive (see `record_result`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Hosts handed the query (answered or not).
    pub asked: u64,
    /// Hosts that answered with rows (or none) and no error.
    pub answered: u64,
    /// Hosts whose answer was a failure.
    pub errors: u64,
    /// Rows over all answers.
    pub rows: u64,
}

impl Counts {
    /// Handed the query, no answer yet.
    pub fn pending(&self) -> u64 {
        self.asked.saturating_sub(self.answered + self.errors)
    }
}

/// A campaign with what the admin API shows beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSummary {
    pub campaign: Campaign,
    pub status: CampaignStatus,
    pub counts: Counts,
    /// Hosts the campaign targets (`target_count`).
    pub targeted: u64,
}

impl CampaignSummary {
    /// Targeted hosts not seen since the campaign began: never handed the query.
    pub fn not_seen(&self) -> u64 {
        self.targeted.saturating_sub(self.counts.asked)
    }
}

const COUNT_SHARDS: u64 = 16;
const COUNT_ASKED: &str = "asked";
const COUNT_ANSWERED: &str = "answered";
const COUNT_ERRORS: &str = "errors";
const COUNT_ROWS: &str = "rows";

/// At most this many result items per page (and per store query).
pub const MAX_PAGE: usize = 1000;
/// The rows of one page stop near this many bytes: a Lambda answer carries at most 6 MB.
const PAGE_BYTES_BUDGET: usize = 4_000_000;
/// At most this many hosts named in one campaign's targets (their teams are read at creation).
pub const MAX_TARGET_HOSTS: usize = 10_000;

/// Which (campaign, host) pairs this instance knows were already handed out, so that the
/// steady state of a running campaign costs no store call either.
pub struct AskedCache(Cache<(u64, u64), ()>);

impl Default for AskedCache {
    fn default() -> Self {
        AskedCache(
            Cache::builder()
                .time_to_live(Duration::from_secs(CAMPAIGN_TTL_SECS as u64))
                .max_capacity(1_000_000)
                .build(),
        )
    }
}

/// The hosts a campaign targets, as the admin API shows them: counted when the campaign was
/// created (`count_targets`).
pub fn target_count(campaign: &Campaign) -> u64 {
    campaign.targeted
}

/// Hosts the targets match at creation, and the teams of the hosts named: one BatchGetItem
/// per 100 named hosts, and the host counters for teams or all (a Query per team), so the
/// cost does not grow with the fleet.
async fn count_targets(
    store: &dyn StateStore,
    targets: &Targets,
) -> Result<(u64, Vec<u64>, bool), StoreError> {
    let keys: Vec<_> = targets.hosts.iter().map(|id| layout::host(*id)).collect();
    let named = batch_get_all(store, &keys).await?;
    let mut host_teams = Vec::new();
    let mut unteamed = false;
    let mut named_outside_group = 0;
    for item in &named {
        let host: hosts::Host = item.decode()?;
        if !targets.in_group(host.team_id, hosts::platform_family(&host.platform)) {
            named_outside_group += 1;
        }
        match host.team_id {
            Some(team) if !host_teams.contains(&team) => host_teams.push(team),
            Some(_) => {}
            None => unteamed = true,
        }
    }
    let group = if targets.all {
        Scopes::All
    } else if targets.teams.is_empty() {
        return Ok((named_outside_group, host_teams, unteamed));
    } else {
        Scopes::Only(targets.teams.iter().map(|team| Some(*team)).collect())
    };
    // `create` sorted and deduplicated the platforms.
    let in_group = host_listing::total(store, &group, &targets.platforms).await?;
    Ok((in_group + named_outside_group, host_teams, unteamed))
}

/// The platform families a campaign may narrow to (`hosts::platform_family`).
pub const PLATFORM_FAMILIES: [&str; 3] = ["darwin", "linux", "windows"];

pub async fn create(
    app: &AppInner,
    query: &str,
    mut targets: Targets,
    created_by: Option<u64>,
) -> Result<Campaign, ApiError> {
    if query.trim().is_empty() || query.len() > MAX_QUERY_LEN {
        return Err(ApiError::bad_request(format!(
            "query must be 1 to {MAX_QUERY_LEN} characters"
        )));
    }
    if targets.is_empty() {
        return Err(ApiError::bad_request(
            "selected must name at least one host or team, or set all",
        ));
    }
    targets.hosts.sort_unstable();
    targets.hosts.dedup();
    if targets.hosts.len() > MAX_TARGET_HOSTS {
        return Err(ApiError::bad_request(format!(
            "selected may name at most {MAX_TARGET_HOSTS} hosts (select teams instead)"
        )));
    }
    targets.platforms.sort_unstable();
    targets.platforms.dedup();
    if let Some(unknown) = targets
        .platforms
        .iter()
        .find(|p| !PLATFORM_FAMILIES.contains(&p.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "selected.platforms: {unknown:?} is not one of {PLATFORM_FAMILIES:?}"
        )));
    }
    let store = app.ports.state.as_ref();
    let now = app.clock.now();
    let (targeted, host_teams, unteamed_hosts) = count_targets(store, &targets).await?;
    let id = u64::try_from(
        store
            .increment(&layout::counter("campaign"), 1, None)
            .await?,
    )
    .map_err(|_| ApiError::Internal("campaign counter went negative".into()))?;
    if id >= layout::CAMPAIGN_ID_CEILING {
        return Err(ApiError::Internal("campaign ids exhausted".into()));
    }
    let campaign = Campaign {
        id,
        query: query.to_string(),
        targets: targets.clone(),
        created_at: now,
        expires_at: now.timestamp() + CAMPAIGN_TTL_SECS,
        targeted,
        created_by,
        host_teams,
        unteamed_hosts,
        stopped_at: None,
    };
    let live = LiveCampaign {
        id,
        query: campaign.query.clone(),
        targets,
        expires_at: campaign.expires_at,
    };
    let retained_until = now.timestamp() + RESULTS_RETENTION_SECS;
    store
        .write(vec![
            WriteOp::Put {
                item: Item::encode(layout::campaign(id), &campaign)?.with_expiry(retained_until),
                cond: Cond::NotExists,
            },
            WriteOp::Put {
                item: Item::new(layout::campaigns_index(id), json!({ "id": id }))
                    .with_expiry(retained_until),
                cond: Cond::NotExists,
            },
            WriteOp::Put {
                item: Item::encode(layout::live_campaign(id), &live)?.with_expiry(live.expires_at),
                cond: Cond::NotExists,
            },
        ])
        .await?;
    app.live.expire();
    Ok(campaign)
}

pub async fn get(store: &dyn StateStore, id: u64) -> Result<Option<Campaign>, StoreError> {
    match store.get(&layout::campaign(id)).await? {
        Some(item) => item.decode().map(Some),
        None => Ok(None),
    }
}

/// The campaign if it exists and the caller may see it (`Campaign::visible_to`); None
/// otherwise, so a caller cannot tell another team's campaign from a missing one.
pub async fn get_visible(
    store: &dyn StateStore,
    id: u64,
    visible: &TeamFilter,
) -> Result<Option<Campaign>, StoreError> {
    Ok(get(store, id).await?.filter(|c| c.visible_to(visible)))
}

/// The campaign's counters: one Query of its `COUNT#` items (4 counters × 16 shards).
pub async fn counts(store: &dyn StateStore, id: u64) -> Result<Counts, StoreError> {
    let items = query_all(
        store,
        Query::partition(layout::campaign_partition(id)).prefix(layout::COUNT_PREFIX),
    )
    .await?;
    let mut counts = Counts::default();
    for item in &items {
        let n = item
            .data
            .get("n")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0) as u64;
        let counter = item.key.sk[layout::COUNT_PREFIX.len()..]
            .split('#')
            .next()
            .unwrap_or_default();
        match counter {
            COUNT_ASKED => counts.asked += n,
            COUNT_ANSWERED => counts.answered += n,
            COUNT_ERRORS => counts.errors += n,
            COUNT_ROWS => counts.rows += n,
            _ => {}
        }
    }
    Ok(counts)
}

/// The campaign with its status and counters (one more Query).
pub async fn summary(app: &AppInner, campaign: Campaign) -> Result<CampaignSummary, ApiError> {
    let counts = counts(app.state(), campaign.id).await?;
    Ok(CampaignSummary {
        status: campaign.status(app.clock.unix()),
        targeted: target_count(&campaign),
        counts,
        campaign,
    })
}

/// Stops handing the campaign to hosts: marks it stopped and takes it out of the live
/// snapshot (other instances stop within `LIVE_REFRESH_MS`). Results stay; answers from hosts
/// already handed it are still recorded. Stopping twice is not an error.
pub async fn stop(app: &AppInner, id: u64) -> Result<Campaign, ApiError> {
    let store = app.state();
    let now = app.clock.now();
    let mut stopped = None;
    for _ in 0..5 {
        let item = store
            .get(&layout::campaign(id))
            .await?
            .ok_or_else(|| ApiError::not_found(format!("campaign {id} not found")))?;
        let mut campaign: Campaign = item.decode()?;
        if campaign.stopped_at.is_some() {
            stopped = Some(campaign);
            break;
        }
        campaign.stopped_at = Some(now);
        let mut next = Item::encode(item.key.clone(), &campaign)?;
        next.expires_at = item.expires_at;
        match store
            .write(vec![WriteOp::Put {
                item: next,
                cond: Cond::Version(item.version),
            }])
            .await
        {
            Ok(()) => {
                stopped = Some(campaign);
                break;
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    let stopped =
        stopped.ok_or_else(|| ApiError::Unavailable(format!("campaign {id} kept changing")))?;
    store
        .write(vec![WriteOp::Delete {
            key: layout::live_campaign(id),
            cond: Cond::None,
        }])
        .await?;
    app.live.expire();
    Ok(stopped)
}

/// An opaque page cursor: base64url of `<kind>:<number>`, so clients do not build them.
fn encode_cursor(kind: &str, n: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{n}"))
}

/// The `results_page` cursor of a page that starts after this host's result, so that a
/// reader showing part of a page (the admin UI's window of rows) can continue mid-page.
pub fn results_cursor_after(host_id: u64) -> String {
    encode_cursor("r", host_id)
}

/// The number in a cursor made by `encode_cursor` for `kind`; anything else is a 400.
fn decode_cursor(kind: &str, cursor: &str) -> Result<u64, ApiError> {
    let invalid = || ApiError::bad_request("invalid cursor");
    if cursor.len() > 64 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    let (k, n) = text.split_once(':').ok_or_else(invalid)?;
    if k != kind {
        return Err(invalid());
    }
    n.parse().map_err(|_| invalid())
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResultsPage {
    pub results: Vec<CampaignResult>,
    /// Pass back for the next page; None at the end.
    pub next_cursor: Option<String>,
}

/// Whether a result of a host with this team is shown to `visible`.
async fn result_visible(
    store: &dyn StateStore,
    visible: &TeamFilter,
    host_id: u64,
    team_id: Option<u64>,
    team_recorded: bool,
) -> Result<bool, StoreError> {
    Ok(match visible {
        TeamFilter::All => true,
        _ if team_recorded => visible.includes(team_id),
        // Stored before answers carried their team: read the host.
        _ => hosts::team_of(store, host_id)
            .await?
            .is_some_and(|team| visible.includes(team)),
    })
}

/// One page of results in host id order, after `cursor`, at most `limit` (≤ `MAX_PAGE`)
/// results, only those of hosts in `visible`. Cost: one Query, plus one GET per result whose
/// rows are in the blob store. Rows stop near `PAGE_BYTES_BUDGET`: a result that alone is
/// larger comes with `rows_omitted` (the export has its rows).
pub async fn results_page(
    app: &AppInner,
    id: u64,
    cursor: Option<&str>,
    limit: usize,
    visible: &TeamFilter,
) -> Result<ResultsPage, ApiError> {
    page_of_results(app, id, cursor, limit, visible, PAGE_BYTES_BUDGET, true).await
}

/// `results_page` with its byte budget; with `omit_oversized` false a result larger than the
/// budget comes whole (a page of its own), as the export needs every row.
pub(crate) async fn page_of_results(
    app: &AppInner,
    id: u64,
    cursor: Option<&str>,
    limit: usize,
    visible: &TeamFilter,
    budget: usize,
    omit_oversized: bool,
) -> Result<ResultsPage, ApiError> {
    let after = cursor.map(|c| decode_cursor("r", c)).transpose()?;
    let store = app.state();
    let page = store
        .query(
            &Query::partition(layout::campaign_partition(id))
                .prefix(layout::RESULT_PREFIX)
                .limit(limit.clamp(1, MAX_PAGE))
                .after(after.map(|host| layout::campaign_result(id, host))),
        )
        .await?;
    let mut results = Vec::new();
    let mut bytes = 0usize;
    let mut last_host = None;
    let mut cut = false;
    for item in &page.items {
        let mut result: CampaignResult = item.decode()?;
        if !result_visible(
            store,
            visible,
            result.host_id,
            result.team_id,
            result.team_recorded,
        )
        .await?
        {
            last_host = Some(result.host_id);
            continue;
        }
        let size = match &result.rows_blob {
            Some(blob) => app.ports.blobs.size(blob).await? as usize,
            None => serde_json::to_vec(&result.rows).map_or(0, |v| v.len()),
        };
        if bytes + size > budget && !results.is_empty() {
            cut = true;
            break;
        }
        if size > budget && omit_oversized {
            result.rows = Vec::new();
            result.rows_omitted = true;
        } else if let Some(blob) = &result.rows_blob {
            result.rows = load_rows(app, blob).await?;
        }
        bytes += size;
        last_host = Some(result.host_id);
        results.push(result);
    }
    let more = cut || page.next.is_some();
    Ok(ResultsPage {
        results,
        next_cursor: last_host.filter(|_| more).map(|h| encode_cursor("r", h)),
    })
}

async fn load_rows(app: &AppInner, blob: &str) -> Result<Vec<Map<String, Value>>, ApiError> {
    let bytes = app.ports.blobs.get(blob).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::Internal(format!("result blob {blob}: {e}")))
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorsPage {
    pub errors: Vec<CampaignError>,
    pub next_cursor: Option<String>,
}

/// The hosts whose answer was a failure, in host id order, from the `ERROR#` items (one
/// Query: failures only, never the rows).
pub async fn errors_page(
    app: &AppInner,
    id: u64,
    cursor: Option<&str>,
    limit: usize,
    visible: &TeamFilter,
) -> Result<ErrorsPage, ApiError> {
    let after = cursor.map(|c| decode_cursor("e", c)).transpose()?;
    let store = app.state();
    let page = store
        .query(
            &Query::partition(layout::campaign_partition(id))
                .prefix(layout::ERROR_PREFIX)
                .limit(limit.clamp(1, MAX_PAGE))
                .after(after.map(|host| layout::campaign_error(id, host))),
        )
        .await?;
    let mut errors = Vec::new();
    let mut last_host = None;
    for item in &page.items {
        let error: CampaignError = item.decode()?;
        last_host = Some(error.host_id);
        if result_visible(store, visible, error.host_id, error.team_id, true).await? {
            errors.push(error);
        }
    }
    Ok(ErrorsPage {
        errors,
        next_cursor: last_host
            .filter(|_| page.next.is_some())
            .map(|h| encode_cursor("e", h)),
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignsPage {
    pub campaigns: Vec<Campaign>,
    pub next_cursor: Option<String>,
}

/// Recent campaigns, newest first, those `visible` shows. Reads at most a few index pages
/// (so a team user among many other teams' campaigns gets short pages with a cursor, not an
/// unbounded walk) and the campaigns themselves in one BatchGetItem per 100.
pub async fn list_recent(
    app: &AppInner,
    cursor: Option<&str>,
    limit: usize,
    visible: &TeamFilter,
) -> Result<CampaignsPage, ApiError> {
    const MAX_INDEX_PAGES: usize = 5;
    let limit = limit.clamp(1, 100);
    let mut after = cursor
        .map(|c| decode_cursor("c", c))
        .transpose()?
        .map(layout::campaigns_index);
    let store = app.state();
    let mut campaigns = Vec::new();
    let mut last_id = None;
    let mut more = false;
    for _ in 0..MAX_INDEX_PAGES {
        let page = store
            .query(
                &Query::partition(layout::CAMPAIGNS_INDEX)
                    .limit(limit - campaigns.len())
                    .after(after.clone()),
            )
            .await?;
        let ids: Vec<u64> = page
            .items
            .iter()
            .filter_map(|item| item.data.get("id").and_then(Value::as_u64))
            .collect();
        let keys: Vec<_> = ids.iter().map(|id| layout::campaign(*id)).collect();
        let mut found: Vec<Campaign> = batch_get_all(store, &keys)
            .await?
            .iter()
            .map(Item::decode)
            .collect::<Result<_, _>>()?;
        found.sort_by_key(|c| std::cmp::Reverse(c.id));
        campaigns.extend(found.into_iter().filter(|c| c.visible_to(visible)));
        if let Some(last) = ids.last() {
            last_id = Some(*last);
        }
        more = page.next.is_some();
        if !more || campaigns.len() >= limit {
            break;
        }
        after = page.next;
    }
    Ok(CampaignsPage {
        campaigns,
        next_cursor: last_id.filter(|_| more).map(|id| encode_cursor("c", id)),
    })
}

/// A recent campaign that targeted a host, and what the host answered (None: no answer).
#[derive(Debug, Clone, PartialEq)]
pub struct HostCampaign {
    pub campaign: Campaign,
    pub answer: Option<HostAnswer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostAnswer {
    pub received_at: DateTime<Utc>,
    /// None when the rows were large enough to be stored apart (not read here).
    pub rows: Option<usize>,
    pub error: Option<String>,
}

/// The campaigns among the `recent` newest that `visible` shows and whose targets include
/// the host (by id, or its current team or all hosts on its platform), newest first, with its answer to each.
/// There is no index of campaigns by host: this reads the recent list (`list_recent`, bounded)
/// and one GetItem per campaign that targeted the host, so it looks back only so far.
pub async fn recent_for_host(
    app: &AppInner,
    host: &hosts::Host,
    visible: &TeamFilter,
    recent: usize,
) -> Result<Vec<HostCampaign>, ApiError> {
    let host_id = host.id;
    let family = hosts::platform_family(&host.platform);
    let page = list_recent(app, None, recent, visible).await?;
    let mut out = Vec::new();
    for campaign in page.campaigns {
        if !campaign.targets.includes(host_id, host.team_id, family) {
            continue;
        }
        let answer = match app
            .state()
            .get(&layout::campaign_result(campaign.id, host_id))
            .await?
        {
            Some(item) => {
                let result: CampaignResult = item.decode()?;
                Some(HostAnswer {
                    received_at: result.received_at,
                    rows: result.rows_blob.is_none().then_some(result.rows.len()),
                    error: result.error,
                })
            }
            None => None,
        };
        out.push(HostCampaign { campaign, answer });
    }
    Ok(out)
}

/// Adds to one of the campaign's counters. Counts are kept after the write they count, so a
/// failure here is logged, not returned: the write stands, the retry of the whole request
/// would find it done, and a count off by one is better than a failed distributed request.
async fn add_count(app: &AppInner, id: u64, counter: &str, host_id: u64, by: u64, expires_at: i64) {
    if by == 0 {
        return;
    }
    let key = layout::campaign_count(id, counter, host_id % COUNT_SHARDS);
    if let Err(err) = app
        .ports
        .state
        .increment(&key, by as i64, Some(expires_at))
        .await
    {
        tracing::warn!(campaign = id, host_id, counter, %err, "campaign count not kept");
    }
}

/// Records that the host is being handed the campaign. False when it already was.
pub async fn mark_asked(
    app: &AppInner,
    campaign: &LiveCampaign,
    host_id: u64,
) -> Result<bool, ApiError> {
    if app.asked.0.contains_key(&(campaign.id, host_id)) {
        return Ok(false);
    }
    let retained_until = campaign.expires_at + RESULTS_RETENTION_SECS;
    let item = Item::new(
        layout::campaign_asked(campaign.id, host_id),
        Value::Object(Map::new()),
    )
    .with_expiry(retained_until);
    let outcome = app
        .ports
        .state
        .write(vec![WriteOp::Put {
            item,
            cond: Cond::NotExists,
        }])
        .await;
    match outcome {
        Ok(()) => {
            app.asked.0.insert((campaign.id, host_id), ());
            add_count(app, campaign.id, COUNT_ASKED, host_id, 1, retained_until).await;
            Ok(true)
        }
        Err(StoreError::ConditionFailed) => {
            app.asked.0.insert((campaign.id, host_id), ());
            Ok(false)
        }
        Err(other) => Err(other.into()),
    }
}

/// osquery's error messages are short; a longer one is cut so the errors list stays small.
const MAX_ERROR_LEN: usize = 4096;

/// Stores a host's answer, once: false (nothing written, nothing counted) unless the host was
/// handed this campaign and has not answered it yet, so a retried distributed write does not
/// count twice. A failure also gets an `ERROR#` item for the errors list, in the same write.
pub async fn record_result(
    app: &AppInner,
    campaign_id: u64,
    team_id: Option<u64>,
    mut result: CampaignResult,
) -> Result<bool, ApiError> {
    result.team_id = team_id;
    result.team_recorded = true;
    result.rows_omitted = false;
    if let Some(error) = &mut result.error {
        if error.len() > MAX_ERROR_LEN {
            let mut end = MAX_ERROR_LEN;
            while !error.is_char_boundary(end) {
                end -= 1;
            }
            error.truncate(end);
        }
    }
    let row_count = result.rows.len() as u64;
    let rows_json =
        serde_json::to_vec(&result.rows).map_err(|e| ApiError::Internal(e.to_string()))?;
    let store = app.ports.state.as_ref();
    if rows_json.len() > INLINE_ROWS_MAX_BYTES {
        // Do not write a blob for a campaign the host was not asked, or answered already.
        if store
            .get(&layout::campaign_asked(campaign_id, result.host_id))
            .await?
            .is_none()
            || store
                .get(&layout::campaign_result(campaign_id, result.host_id))
                .await?
                .is_some()
        {
            return Ok(false);
        }
        let name = format!("campaign-results/{campaign_id}/{}.json", result.host_id);
        app.ports.blobs.put(&name, Bytes::from(rows_json)).await?;
        result.rows = Vec::new();
        result.rows_blob = Some(name);
    }
    let retained_until = result.received_at.timestamp() + RESULTS_RETENTION_SECS;
    let mut ops = vec![WriteOp::Check {
        key: layout::campaign_asked(campaign_id, result.host_id),
        cond: Cond::Exists,
    }];
    if let Some(error) = &result.error {
        let entry = CampaignError {
            host_id: result.host_id,
            hostname: result.hostname.clone(),
            error: error.clone(),
            received_at: result.received_at,
            team_id,
        };
        ops.push(WriteOp::Put {
            item: Item::encode(layout::campaign_error(campaign_id, result.host_id), &entry)?
                .with_expiry(retained_until),
            cond: Cond::NotExists,
        });
    }
    ops.push(WriteOp::Put {
        item: Item::encode(
            layout::campaign_result(campaign_id, result.host_id),
            &result,
        )?
        .with_expiry(retained_until),
        cond: Cond::NotExists,
    });
    match store.write(ops).await {
        Ok(()) => {
            let counter = if result.error.is_some() {
                COUNT_ERRORS
            } else {
                COUNT_ANSWERED
            };
            add_count(app, campaign_id, counter, result.host_id, 1, retained_until).await;
            add_count(
                app,
                campaign_id,
                COUNT_ROWS,
                result.host_id,
                row_count,
                retained_until,
            )
            .await;
            Ok(true)
        }
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The stored answer of one host, if any (one GetItem; the host query polls it).
pub async fn host_result(
    app: &AppInner,
    campaign_id: u64,
    host_id: u64,
) -> Result<Option<CampaignResult>, ApiError> {
    let Some(item) = app
        .state()
        .get(&layout::campaign_result(campaign_id, host_id))
        .await?
    else {
        return Ok(None);
    };
    let mut result: CampaignResult = item.decode()?;
    if let Some(blob) = &result.rows_blob {
        result.rows = load_rows(app, blob).await?;
    }
    Ok(Some(result))
}

/// Campaign results written straight to the store, for benchmarks and scale tests that need a
/// campaign answered by 100,000 hosts without 100,000 HTTP writes. The campaign's counters are
/// not moved.
pub mod fixtures {
    use super::*;

    /// `rows_per_host` rows of a processes-like table from each of `hosts`.
    pub async fn insert_results(
        store: &dyn StateStore,
        campaign_id: u64,
        hosts: std::ops::RangeInclusive<u64>,
        rows_per_host: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let hosts: Vec<u64> = hosts.collect();
        for chunk in hosts.chunks(100) {
            let mut ops = Vec::with_capacity(chunk.len());
            for host in chunk {
                let rows = (0..rows_per_host)
                    .map(|i| {
                        let mut row = Map::new();
                        row.insert("pid".into(), json!((host * 10 + i).to_string()));
                        row.insert("name".into(), json!("bash"));
                        row.insert("path".into(), json!("/usr/bin/bash"));
                        row
                    })
                    .collect();
                let result = CampaignResult {
                    host_id: *host,
                    hostname: format!("host-{host}"),
                    rows,
                    error: None,
                    stats: None,
                    received_at: now,
                    rows_blob: None,
                    team_id: None,
                    team_recorded: true,
                    rows_omitted: false,
                };
                ops.push(WriteOp::Put {
                    item: Item::encode(layout::campaign_result(campaign_id, *host), &result)?,
                    cond: Cond::None,
                });
            }
            store.write(ops).await?;
        }
        Ok(())
    }
}
