//! The Live query page: the SQL editor (or a saved query's SQL), the targets (all hosts,
//! teams, platforms, hosts found by a search), and the viewer's recent campaigns. Who may
//! run what on which hosts is `campaign_access`'s rule, as for the API's `queries/run`: any
//! SQL needs `RunAnyQuery`; a viewer with only `RunSavedQueries` runs saved queries marked
//! `observer_can_run`, their SQL read-only.

use std::collections::{BTreeSet, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::campaign_access::{self, RunnableSql};
use flotilla::domain::campaigns;
use flotilla::domain::host_index;
use flotilla::domain::host_listing::{self, HostFilter, HostQuery, OrderKey, Scopes};
use flotilla::domain::identity::roles::{Permission, TeamFilter};
use flotilla::domain::identity::{audit, users};
use flotilla::domain::live::Targets;
use flotilla::domain::query_admin;
use flotilla::domain::scheduled_queries::ScheduledQuery;
use flotilla::domain::teams;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::{status_text, targets_text};
use crate::context::Viewer;
use crate::forms::{form_problem, PageForm};
use crate::layout;
use crate::pages::see_other;

/// The platform families a run may target (`host_index::platform_family`).
const PLATFORMS: [(&str, &str); 3] = [
    ("darwin", "macOS"),
    ("windows", "Windows"),
    ("linux", "Linux"),
];
/// Hosts a search lists.
const SEARCH_RESULTS: usize = 20;
/// Hosts carried between searches in the page's address.
const MAX_CHOSEN: usize = 100;
const MAX_SEARCH_LEN: usize = 200;
/// Teams whose host counts the form shows (beyond, no counts: a few reads each).
const COUNTED_TEAMS: usize = 25;
/// Recent campaigns listed below the form.
const RECENT: usize = 20;
/// Longest SQL shown in the recent campaigns list.
const SQL_PREVIEW_CHARS: usize = 160;

/// What the run form holds (as typed, kept when it comes back with an error).
#[derive(Default, Clone, Debug)]
struct RunForm {
    sql: String,
    query_id: Option<u64>,
    all: bool,
    teams: BTreeSet<u64>,
    platforms: BTreeSet<String>,
    hosts: BTreeSet<u64>,
}

fn bad(text: &str) -> ApiError {
    ApiError::bad_request(text.to_string())
}

fn parse_id(raw: &str, what: &str) -> ApiResult<u64> {
    raw.trim()
        .parse()
        .map_err(|_| bad(&format!("{what} must be a number")))
}

impl RunForm {
    /// From the posted fields: `query` or `query_id`, `all`, `team_<id>`, `platform_<name>`,
    /// `host_<id>`; anything else is refused.
    fn parse(fields: &HashMap<String, String>) -> ApiResult<RunForm> {
        let mut form = RunForm::default();
        for (name, value) in fields {
            if let Some(id) = name.strip_prefix("team_") {
                form.teams.insert(parse_id(id, "a team")?);
            } else if let Some(id) = name.strip_prefix("host_") {
                form.hosts.insert(parse_id(id, "a host")?);
            } else if let Some(platform) = name.strip_prefix("platform_") {
                if !PLATFORMS.iter().any(|(p, _)| *p == platform) {
                    return Err(bad("unknown platform"));
                }
                form.platforms.insert(platform.to_string());
            } else {
                match name.as_str() {
                    "csrf_token" => {}
                    "query" => form.sql = value.clone(),
                    "query_id" if !value.is_empty() => {
                        form.query_id = Some(parse_id(value, "query_id")?)
                    }
                    "query_id" => {}
                    "all" => form.all = true,
                    other => return Err(bad(&format!("unexpected field {other:?}"))),
                }
            }
        }
        if form.hosts.len() > campaigns::MAX_TARGET_HOSTS {
            return Err(bad("too many hosts chosen: choose teams instead"));
        }
        Ok(form)
    }
}

/// `GET /live` parameters.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Shown {
    #[serde(default)]
    query_id: Option<String>,
    #[serde(default)]
    host_search: Option<String>,
    /// Hosts chosen so far: comma-separated ids.
    #[serde(default)]
    hosts: Option<String>,
    /// The recent campaigns' cursor.
    #[serde(default)]
    older: Option<String>,
}

/// A host as the form lists it.
struct HostChoice {
    id: u64,
    name: String,
    platform: String,
}

/// The saved query the page runs, if named and readable by the viewer.
async fn saved_query(
    app: &App,
    viewer: &Viewer,
    id: Option<u64>,
) -> ApiResult<Option<ScheduledQuery>> {
    match id {
        Some(id) => Ok(Some(query_admin::read(app, &viewer.principal, id).await?)),
        None => Ok(None),
    }
}

/// The permission this page's run needs: any SQL, or the saved query's.
fn run_permission(viewer: &Viewer, saved: Option<&ScheduledQuery>) -> Permission {
    match saved {
        Some(q) if !viewer.can(Permission::RunAnyQuery) => {
            campaign_access::saved_query_permission(q.observer_can_run)
        }
        _ => Permission::RunAnyQuery,
    }
}

/// Hosts by id that the viewer may run on, with their names (unknown ones dropped).
async fn chosen_hosts(
    app: &App,
    filter: &TeamFilter,
    ids: &BTreeSet<u64>,
) -> ApiResult<Vec<HostChoice>> {
    let mut out = Vec::new();
    for id in ids.iter().take(MAX_CHOSEN) {
        if let Some((row, _)) = host_index::get_row(app.state(), *id).await? {
            if filter.includes(row.team_id) {
                out.push(HostChoice {
                    id: row.id,
                    name: row.display_name().to_string(),
                    platform: row.platform.clone(),
                });
            }
        }
    }
    Ok(out)
}

async fn search_hosts(app: &App, filter: &TeamFilter, search: &str) -> ApiResult<Vec<HostChoice>> {
    let rules = host_listing::status_rules(app).await?;
    let query = HostQuery {
        filter: HostFilter {
            search: Some(search.to_string()),
            ..HostFilter::everything(Scopes::within(None, filter))
        },
        order: OrderKey::Name,
        descending: false,
        per_page: SEARCH_RESULTS,
        cursor: None,
    };
    let page = host_listing::list_page(app.state(), app.clock.unix(), &rules, &query).await?;
    Ok(page
        .rows
        .into_iter()
        .map(|h| HostChoice {
            id: h.row.id,
            name: h.row.display_name().to_string(),
            platform: h.row.platform,
        })
        .collect())
}

/// The teams the viewer may run on, by name.
async fn runnable_teams(app: &App, filter: &TeamFilter) -> ApiResult<Vec<(u64, String)>> {
    Ok(teams::list(app.state())
        .await?
        .into_iter()
        .filter(|t| filter.includes(Some(t.id)))
        .map(|t| (t.id, t.name))
        .collect())
}

/// How many hosts a target choice holds (the host counters: a few reads), in words.
async fn count_text(app: &App, scopes: Scopes, platform: Option<&str>) -> ApiResult<String> {
    let rules = host_listing::status_rules(app).await?;
    let filter = HostFilter {
        platform: platform.map(str::to_string),
        ..HostFilter::everything(scopes)
    };
    let count = host_listing::count(app.state(), app.clock.unix(), &rules, &filter).await?;
    let about = if count.exact { "" } else { "about " };
    Ok(match count.count {
        1 => format!("{about}1 host"),
        n => format!("{about}{n} hosts"),
    })
}

fn hosts_param(ids: impl IntoIterator<Item = u64>) -> String {
    ids.into_iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The whole page: the run form (when the viewer may run this), the recent campaigns.
#[allow(clippy::too_many_arguments)]
async fn render(
    app: &App,
    viewer: &Viewer,
    form: &RunForm,
    saved: Option<&ScheduledQuery>,
    search: &str,
    older: Option<&str>,
    error: Option<&str>,
) -> ApiResult<Markup> {
    let permission = run_permission(viewer, saved);
    let may_run = viewer.can(permission);
    let filter = viewer.principal.teams_with(permission);
    let free_sql = viewer.can(Permission::RunAnyQuery);
    let chosen = chosen_hosts(app, &filter, &form.hosts).await?;
    let found = if search.is_empty() || !may_run {
        Vec::new()
    } else {
        search_hosts(app, &filter, search).await?
    };
    let team_choices = if may_run {
        runnable_teams(app, &filter).await?
    } else {
        Vec::new()
    };
    let mut team_counts = Vec::new();
    for (id, name) in &team_choices {
        // A count is a few counter reads: shown while the teams are few.
        let count = if team_choices.len() <= COUNTED_TEAMS {
            count_text(app, Scopes::Only(BTreeSet::from([Some(*id)])), None).await?
        } else {
            String::new()
        };
        team_counts.push((*id, name.clone(), count));
    }
    let mut platform_counts = Vec::new();
    if may_run {
        for (key, label) in PLATFORMS {
            let count = count_text(app, Scopes::within(None, &filter), Some(key)).await?;
            platform_counts.push((key, label, count));
        }
    }
    let all_count = if may_run {
        count_text(app, Scopes::within(None, &filter), None).await?
    } else {
        String::new()
    };
    let visible = viewer.principal.teams_with(Permission::ReadCampaigns);
    let recent = campaigns::list_recent(app, older, RECENT, &visible).await?;
    let names = users::team_names(app.state()).await?;
    let now = app.clock.now();
    let unix = app.clock.unix();
    let chosen_ids: BTreeSet<u64> = chosen.iter().map(|h| h.id).collect();
    let draft_key = match saved {
        Some(q) => format!("live-sql-{}", q.id),
        None => "live-sql".to_string(),
    };
    let sql = if form.sql.is_empty() {
        saved.map(|q| q.query.clone()).unwrap_or_default()
    } else {
        form.sql.clone()
    };
    let all_label = match filter {
        TeamFilter::All => "All hosts",
        TeamFilter::Only(_) => "All hosts of my teams",
    };
    Ok(layout::page(
        viewer,
        "Live query",
        html! {
            h1 { "Live query" }
            @if may_run {
                p class="muted" { "Ask hosts a question now: they answer when they next check in (every few seconds while online)." }
                (layout::form_error(error))
                // The host search's own form: its fields sit in the run form's Hosts
                // fieldset and name this form (no nested forms).
                form id="host-search" method="get" action="/live" {
                    @if let Some(q) = saved {
                        input type="hidden" name="query_id" value=(q.id);
                    }
                    @if !chosen_ids.is_empty() {
                        input type="hidden" name="hosts" value=(hosts_param(chosen_ids.iter().copied()));
                    }
                }
                form method="post" action="/live" class="stack wide" {
                    (layout::csrf_field(viewer))
                    @match saved {
                        Some(q) if !free_sql => {
                            input type="hidden" name="query_id" value=(q.id);
                            p { "Saved query " strong { (q.name) } " (you may run it, not change it):" }
                            pre class="sql-block" tabindex="0" { code { (q.query) } }
                        },
                        _ => {
                            @if let Some(q) = saved {
                                p { "From the saved query " a href=(format!("/queries/{}", q.id)) { (q.name) } "; changes here are not saved." }
                            }
                            label for="live-sql" { "SQL" }
                            textarea id="live-sql" name="query" class="mono" rows="8" required
                                spellcheck="false" maxlength="100000" data-draft=(draft_key)
                                aria-describedby="live-sql-hint" { (sql) }
                            p id="live-sql-hint" class="hint" { "osquery SQL, e.g. SELECT * FROM os_version; your draft is kept in this browser." }
                        },
                    }
                    fieldset {
                        legend { "Targets" }
                        div class="check" {
                            input id="target-all" name="all" type="checkbox" checked[form.all];
                            label for="target-all" { (all_label) }
                            span class="muted" { "(" (all_count) ")" }
                        }
                        @if !team_counts.is_empty() {
                            fieldset {
                                legend { "Teams" }
                                @for (id, name, count) in &team_counts {
                                    @let field = format!("team-{id}");
                                    div class="check" {
                                        input id=(field) name=(format!("team_{id}")) type="checkbox" checked[form.teams.contains(id)];
                                        label for=(field) { (name) }
                                        @if !count.is_empty() {
                                            span class="muted" { "(" (count) ")" }
                                        }
                                    }
                                }
                            }
                        }
                        fieldset {
                            legend { "Platforms" }
                            p class="hint" { "Only hosts on these platforms among all hosts or the teams chosen (with neither, among all the hosts you may query). Hosts chosen by name are asked whatever their platform." }
                            @for (key, label, count) in &platform_counts {
                                @let field = format!("platform-{key}");
                                div class="check" {
                                    input id=(field) name=(format!("platform_{key}")) type="checkbox" checked[form.platforms.contains(*key)];
                                    label for=(field) { (label) }
                                    span class="muted" { "(" (count) ")" }
                                }
                            }
                        }
                        fieldset {
                            legend { "Hosts" }
                            @for host in &chosen {
                                @let field = format!("host-{}", host.id);
                                div class="check" {
                                    input id=(field) name=(format!("host_{}", host.id)) type="checkbox" checked;
                                    label for=(field) { (host.name) }
                                    span class="muted" { (host.platform) }
                                }
                            }
                            div class="row" {
                                label for="host-search-text" {
                                    "Find hosts by name, serial, UUID or IP"
                                    input id="host-search-text" type="search" name="host_search" form="host-search" value=(search) maxlength=(MAX_SEARCH_LEN);
                                }
                                button type="submit" form="host-search" { "Search hosts" }
                            }
                            @if !search.is_empty() {
                                @let fresh: Vec<&HostChoice> = found.iter().filter(|h| !chosen_ids.contains(&h.id)).collect();
                                @if found.is_empty() {
                                    p class="muted" role="status" { "No host matches \u{201c}" (search) "\u{201d}." }
                                } @else {
                                    p class="hint" role="status" { (found.len()) " hosts match \u{201c}" (search) "\u{201d}" @if found.len() >= SEARCH_RESULTS { " (the first " (SEARCH_RESULTS) ")" } ": check those to ask." }
                                }
                                @for host in fresh {
                                    @let field = format!("host-{}", host.id);
                                    div class="check" {
                                        input id=(field) name=(format!("host_{}", host.id)) type="checkbox";
                                        label for=(field) { (host.name) }
                                        span class="muted" { (host.platform) }
                                    }
                                }
                            }
                        }
                    }
                    button type="submit" class="primary" { "Run" }
                }
            } @else {
                @match saved {
                    Some(q) => {
                        p class="error" role="alert" { "You may not run the saved query " strong { (q.name) } ": only queries marked \u{201c}Observers may run it\u{201d} can be run with your role." }
                        pre class="sql-block" tabindex="0" { code { (q.query) } }
                    },
                    None => p class="muted" {
                        "Your role may run saved queries that allow observers to: choose one on the "
                        a href="/queries" { "Queries" } " page (\u{201c}Run live\u{201d})."
                    },
                }
            }
            h2 { "Recent live queries" }
            @if recent.campaigns.is_empty() {
                p class="muted" { "None yet." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Live query" }
                                th scope="col" { "SQL" }
                                th scope="col" { "Targets" }
                                th scope="col" { "State" }
                                th scope="col" { "Started" }
                            }
                        }
                        tbody {
                            @for campaign in &recent.campaigns {
                                @let (status, class) = status_text(campaign.status(unix));
                                tr {
                                    td { a href=(format!("/live/{}", campaign.id)) { "Live query " (campaign.id) } }
                                    td { code class="sql" { (preview(&campaign.query)) } }
                                    td { (targets_text(campaign, &names)) }
                                    td { span class=(class) { (status) } }
                                    td { (layout::when(now, Some(campaign.created_at))) }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &recent.next_cursor {
                    nav class="pager" aria-label="Recent live queries" {
                        a href=(format!("/live?older={next}")) { "Older live queries" }
                    }
                }
            }
        },
    ))
}

fn preview(sql: &str) -> String {
    match sql.char_indices().nth(SQL_PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &sql[..cut]),
        None => sql.to_string(),
    }
}

/// `GET /live?query_id=&host_search=&hosts=`.
pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    params: Result<Query<Shown>, QueryRejection>,
) -> ApiResult<Markup> {
    let Query(shown) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let query_id = shown
        .query_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_id(s, "query_id"))
        .transpose()?;
    let search = shown.host_search.unwrap_or_default();
    if search.chars().count() > MAX_SEARCH_LEN {
        return Err(bad("the host search is too long"));
    }
    let mut form = RunForm::default();
    for id in shown
        .hosts
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .take(MAX_CHOSEN + 1)
    {
        form.hosts.insert(parse_id(id, "hosts")?);
    }
    if form.hosts.len() > MAX_CHOSEN {
        return Err(bad("too many hosts chosen: choose teams instead"));
    }
    let older = shown.older.as_deref().filter(|s| !s.is_empty());
    let saved = saved_query(&app, &viewer, query_id).await?;
    render(
        &app,
        &viewer,
        &form,
        saved.as_ref(),
        search.trim(),
        older,
        None,
    )
    .await
}

/// The targets of a posted form the viewer may run on (403 for another team or its hosts).
/// Platforms narrow "all hosts" or the teams chosen; chosen alone, they narrow all the hosts
/// the viewer may query (`allowed_targets` turns `all` into the viewer's teams).
async fn targets(
    app: &App,
    viewer: &Viewer,
    form: &RunForm,
    permission: Permission,
) -> ApiResult<Targets> {
    let selected = Targets {
        hosts: form.hosts.iter().copied().collect(),
        teams: form.teams.iter().copied().collect(),
        all: form.all || (form.teams.is_empty() && !form.platforms.is_empty()),
        platforms: form.platforms.iter().cloned().collect(),
    };
    campaign_access::allowed_targets(app, &viewer.principal, permission, selected).await
}

/// `POST /live`: runs it (the API's `queries/run`), then the campaign's page.
pub async fn submit(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageForm(fields): PageForm<HashMap<String, String>>,
) -> ApiResult<Response> {
    let form = RunForm::parse(&fields)?;
    let sql = (form.query_id.is_none()).then_some(form.sql.as_str());
    let result = async {
        let RunnableSql { sql, permission } =
            campaign_access::runnable(&app, sql, form.query_id).await?;
        if !viewer.can(permission) {
            return Err(ApiError::forbidden());
        }
        let targets = targets(&app, &viewer, &form, permission).await?;
        let campaign =
            campaigns::create(&app, &sql, targets, viewer.principal.user_id()).await?;
        audit::record(
            &app,
            viewer.principal.actor(),
            "live_query",
            json!({"campaign_id": campaign.id, "query_id": form.query_id, "query_sql": sql, "targets_count": campaign.targeted}),
            &ip,
        )
        .await?;
        Ok(campaign.id)
    }
    .await;
    match result {
        Ok(id) => Ok(see_other(&format!("/live/{id}"))),
        Err(err) if form_problem(&err) => {
            let saved = match form.query_id {
                Some(id) => query_admin::read(&app, &viewer.principal, id).await.ok(),
                None => None,
            };
            let page = render(
                &app,
                &viewer,
                &form,
                saved.as_ref(),
                "",
                None,
                Some(&err.to_string()),
            )
            .await?;
            Ok((err.status(), page).into_response())
        }
        Err(err) => Err(err),
    }
}
