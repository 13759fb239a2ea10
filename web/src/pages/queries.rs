//! Saved queries and their schedule: the list, a query's page (edit, delete), a new query.
//! Global queries reach every host, a team's its hosts; team users write their teams' only.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flotilla::api::admin::Id;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::campaign_access;
use flotilla::domain::identity::roles::{Permission, Scope};
use flotilla::domain::identity::users;
use flotilla::domain::query_admin;
use flotilla::domain::scheduled_queries::{NewScheduledQuery, QueryChange, ScheduledQuery};
use flotilla::domain::team_admin;
use flotilla::domain::teams::Team;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use super::see_other;
use crate::context::Viewer;
use crate::forms::{form_problem, PageForm};
use crate::layout;

/// The platforms a query may be limited to (Fleet's comma-separated `platform`).
const PLATFORMS: [(&str, &str); 3] = [
    ("darwin", "macOS"),
    ("windows", "Windows"),
    ("linux", "Linux"),
];

#[derive(Deserialize, Default)]
pub struct Shown {
    notice: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "created" => Some("The query is saved."),
        "saved" => Some("The query is changed."),
        "deleted" => Some("The query is deleted."),
        _ => None,
    }
}

fn interval_text(seconds: u64) -> String {
    match seconds {
        0 => "not scheduled".into(),
        s if s % 86_400 == 0 => format!("every {} day(s)", s / 86_400),
        s if s % 3_600 == 0 => format!("every {} hour(s)", s / 3_600),
        s if s % 60 == 0 => format!("every {} minute(s)", s / 60),
        s => format!("every {s} seconds"),
    }
}

fn platforms_text(platform: &str) -> String {
    if platform.trim().is_empty() {
        "all".into()
    } else {
        platform
            .split(',')
            .map(str::trim)
            .map(|p| {
                PLATFORMS
                    .iter()
                    .find(|(key, _)| *key == p)
                    .map_or(p, |(_, label)| label)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn team_text(names: &HashMap<u64, String>, team: Option<u64>) -> String {
    match team {
        None => "Global (every host)".into(),
        Some(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("team {id}")),
    }
}

pub async fn list(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let mut queries = query_admin::visible(&app, &viewer.principal).await?;
    queries.sort_by_key(|q| q.name.to_lowercase());
    let names = users::team_names(app.state()).await?;
    Ok(layout::page(
        &viewer,
        "Queries",
        html! {
            h1 { "Queries" }
            (layout::notice(notice_text(q.notice.as_deref())))
            @if viewer.can(Permission::WriteQueries) {
                p { a class="button primary" href="/queries/new" { "New query" } }
            }
            @if queries.is_empty() {
                p class="muted" { "No saved queries yet." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Name" }
                                th scope="col" { "SQL" }
                                th scope="col" { "Schedule" }
                                th scope="col" { "Platforms" }
                                th scope="col" { "Team" }
                                th scope="col" { "Logging" }
                                th scope="col" { "Observers can run" }
                                th scope="col" { "Id" }
                                th scope="col" { "Live" }
                            }
                        }
                        tbody {
                            @for query in &queries {
                                tr {
                                    td { a href=(format!("/queries/{}", query.id)) { (query.name) } }
                                    td { code class="sql" { (query.query) } }
                                    td { (interval_text(query.interval)) }
                                    td { (platforms_text(&query.platform)) }
                                    td { (team_text(&names, query.team_id)) }
                                    td { (query.logging) }
                                    td { @if query.observer_can_run { "Yes" } @else { "No" } }
                                    td { (query.id) }
                                    td {
                                        @if may_run_live(&viewer, query) {
                                            a href=(format!("/live?query_id={}", query.id)) { "Run live" span class="visually-hidden" { ": " (query.name) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// Whether the viewer may run the saved query as a live query (the rule of
/// `campaign_access::runnable`: any SQL, or a query marked for observers).
fn may_run_live(viewer: &Viewer, query: &ScheduledQuery) -> bool {
    viewer.can(campaign_access::saved_query_permission(
        query.observer_can_run,
    ))
}

/// The query form's fields as typed (kept when the form is sent back).
#[derive(Deserialize, Default, Clone)]
pub struct QueryForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    interval: String,
    #[serde(default)]
    platform_darwin: Option<String>,
    #[serde(default)]
    platform_windows: Option<String>,
    #[serde(default)]
    platform_linux: Option<String>,
    #[serde(default)]
    min_osquery_version: String,
    #[serde(default)]
    logging: String,
    #[serde(default)]
    observer_can_run: Option<String>,
    /// Empty: global. Only on create (a query stays in its team).
    #[serde(default)]
    team_id: String,
}

impl QueryForm {
    fn of(query: &ScheduledQuery) -> QueryForm {
        let on = |p: &str| {
            query
                .platform
                .split(',')
                .any(|q| q.trim() == p)
                .then(|| "on".to_string())
        };
        QueryForm {
            name: query.name.clone(),
            query: query.query.clone(),
            interval: query.interval.to_string(),
            platform_darwin: on("darwin"),
            platform_windows: on("windows"),
            platform_linux: on("linux"),
            min_osquery_version: query.min_osquery_version.clone(),
            logging: query.logging.clone(),
            observer_can_run: query.observer_can_run.then(|| "on".to_string()),
            team_id: query.team_id.map(|t| t.to_string()).unwrap_or_default(),
        }
    }

    fn platform(&self) -> String {
        [
            ("darwin", &self.platform_darwin),
            ("windows", &self.platform_windows),
            ("linux", &self.platform_linux),
        ]
        .iter()
        .filter(|(_, on)| on.is_some())
        .map(|(p, _)| *p)
        .collect::<Vec<_>>()
        .join(",")
    }

    fn interval(&self) -> Result<u64, ApiError> {
        let text = self.interval.trim();
        if text.is_empty() {
            return Ok(0);
        }
        text.parse().map_err(|_| {
            ApiError::bad_request(
                "the interval must be a whole number of seconds (0: not scheduled)",
            )
        })
    }

    fn team(&self) -> Result<Option<u64>, ApiError> {
        match self.team_id.trim() {
            "" => Ok(None),
            id => id
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request("choose a team from the list")),
        }
    }

    fn logging(&self) -> String {
        if self.logging.is_empty() {
            "differential".into()
        } else {
            self.logging.clone()
        }
    }
}

/// The teams the viewer may save queries in, and whether globally.
async fn writable_teams(app: &App, viewer: &Viewer) -> ApiResult<(bool, Vec<Team>)> {
    let principal = &viewer.principal;
    let teams = team_admin::visible(app, principal)
        .await?
        .into_iter()
        .filter(|t| principal.can(Permission::WriteQueries, Scope::Team(t.id)))
        .collect();
    Ok((
        principal.can(Permission::WriteQueries, Scope::Global),
        teams,
    ))
}

/// The fields of a query, as a form (`teams`: the team choice on create).
fn fields(form: &QueryForm, teams: Option<(bool, &[Team])>) -> Markup {
    let logging = form.logging();
    html! {
        label for="q-name" { "Name" }
        input id="q-name" name="name" type="text" required maxlength="255" value=(form.name) aria-describedby="q-name-hint";
        p id="q-name-hint" class="hint" { "Results are named after it: no \"/\"." }
        label for="q-sql" { "SQL" }
        textarea id="q-sql" name="query" class="mono" rows="8" required spellcheck="false" { (form.query) }
        label for="q-interval" { "Interval (seconds)" }
        input id="q-interval" name="interval" type="number" min="0" step="1" value=(form.interval) aria-describedby="q-interval-hint";
        p id="q-interval-hint" class="hint" { "How often hosts run it: 3600 is hourly. 0 keeps it saved but not scheduled." }
        fieldset {
            legend { "Platforms (none checked: all)" }
            @for (key, label) in PLATFORMS {
                @let id = format!("q-platform-{key}");
                @let checked = match key { "darwin" => form.platform_darwin.is_some(), "windows" => form.platform_windows.is_some(), _ => form.platform_linux.is_some() };
                div {
                    input id=(id) name=(format!("platform_{key}")) type="checkbox" checked[checked];
                    " "
                    label for=(id) { (label) }
                }
            }
        }
        label for="q-version" { "Minimum osquery version (optional)" }
        input id="q-version" name="min_osquery_version" type="text" maxlength="32" value=(form.min_osquery_version) placeholder="5.9.1";
        label for="q-logging" { "Logging" }
        select id="q-logging" name="logging" {
            option value="differential" selected[logging == "differential"] { "Differential: rows added and removed since the last run" }
            option value="snapshot" selected[logging == "snapshot"] { "Snapshot: every row, every run" }
        }
        div {
            input id="q-observers" name="observer_can_run" type="checkbox" checked[form.observer_can_run.is_some()];
            " "
            label for="q-observers" { "Observers may run it as a live query" }
        }
        @if let Some((global, teams)) = teams {
            label for="q-team" { "Team" }
            select id="q-team" name="team_id" {
                @if global {
                    option value="" selected[form.team_id.is_empty()] { "Global (every host)" }
                }
                @for team in teams {
                    @let value = team.id.to_string();
                    option value=(value) selected[form.team_id == value] { (team.name) }
                }
            }
        }
    }
}

async fn new_page(
    app: &App,
    viewer: &Viewer,
    form: &QueryForm,
    error: Option<&str>,
) -> ApiResult<Markup> {
    let (global, teams) = writable_teams(app, viewer).await?;
    Ok(layout::page(
        viewer,
        "New query",
        html! {
            p { a href="/queries" { "Queries" } }
            h1 { "New query" }
            (layout::form_error(error))
            form method="post" action="/queries" class="stack" {
                (layout::csrf_field(viewer))
                (fields(form, Some((global, &teams))))
                button type="submit" class="primary" { "Save query" }
            }
        },
    ))
}

pub async fn new_form(State(app): State<App>, viewer: Viewer) -> ApiResult<Markup> {
    new_page(&app, &viewer, &QueryForm::default(), None).await
}

fn new_query(form: &QueryForm) -> Result<NewScheduledQuery, ApiError> {
    Ok(NewScheduledQuery {
        name: form.name.clone(),
        query: form.query.clone(),
        interval: form.interval()?,
        platform: form.platform(),
        min_osquery_version: form.min_osquery_version.trim().to_string(),
        logging: form.logging(),
        team_id: form.team()?,
        description: None,
        observer_can_run: form.observer_can_run.is_some(),
    })
}

pub async fn create(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageForm(form): PageForm<QueryForm>,
) -> ApiResult<Response> {
    let result = match new_query(&form) {
        Ok(new) => query_admin::create(&app, &viewer.principal, new, &ip).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(query) => Ok(see_other(&format!("/queries/{}?notice=created", query.id))),
        Err(err) if form_problem(&err) => {
            let page = new_page(&app, &viewer, &form, Some(&err.to_string())).await?;
            Ok((err.status(), page).into_response())
        }
        Err(err) => Err(err),
    }
}

async fn query_page(
    app: &App,
    viewer: &Viewer,
    query: &ScheduledQuery,
    form: &QueryForm,
    notice: Option<&str>,
    error: Option<&str>,
) -> ApiResult<Markup> {
    let now = app.clock.now();
    let names = users::team_names(app.state()).await?;
    let writable = viewer
        .principal
        .can(Permission::WriteQueries, Scope::of(query.team_id));
    let base = format!("/queries/{}", query.id);
    let confirm = format!(
        "Delete the query \u{201c}{}\u{201d}? Hosts stop running it at their next config check.",
        query.name
    );
    Ok(layout::page(
        viewer,
        &query.name,
        html! {
            p { a href="/queries" { "Queries" } }
            h1 { (query.name) }
            (layout::notice(notice))
            dl class="facts" {
                dt { "Team" } dd { (team_text(&names, query.team_id)) }
                dt { "Saved" } dd { (layout::when(now, Some(query.created_at))) }
                @if !writable {
                    dt { "SQL" } dd { pre tabindex="0" { code { (query.query) } } }
                    dt { "Schedule" } dd { (interval_text(query.interval)) }
                    dt { "Platforms" } dd { (platforms_text(&query.platform)) }
                    dt { "Minimum osquery version" } dd { @if query.min_osquery_version.is_empty() { "any" } @else { (query.min_osquery_version) } }
                    dt { "Logging" } dd { (query.logging) }
                    dt { "Observers can run" } dd { @if query.observer_can_run { "Yes" } @else { "No" } }
                }
            }
            @if may_run_live(viewer, query) {
                p { a class="button" href=(format!("/live?query_id={}", query.id)) { "Run live" } }
            }

            @if writable {
                h2 { "Edit" }
                (layout::form_error(error))
                form method="post" action=(base) class="stack" {
                    (layout::csrf_field(viewer))
                    (fields(form, None))
                    button type="submit" class="primary" { "Save changes" }
                }
                h2 { "Delete" }
                (layout::delete_form(viewer, &format!("{base}/delete"), &confirm, &format!("Delete query {}", query.name)))
            }
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Id(id): Id,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let query = query_admin::read(&app, &viewer.principal, id).await?;
    let form = QueryForm::of(&query);
    query_page(
        &app,
        &viewer,
        &query,
        &form,
        notice_text(q.notice.as_deref()),
        None,
    )
    .await
}

fn change(form: &QueryForm) -> Result<QueryChange, ApiError> {
    Ok(QueryChange {
        name: Some(form.name.clone()),
        query: Some(form.query.clone()),
        interval: Some(form.interval()?),
        platform: Some(form.platform()),
        min_osquery_version: Some(form.min_osquery_version.trim().to_string()),
        logging: Some(form.logging()),
        description: None,
        observer_can_run: Some(form.observer_can_run.is_some()),
    })
}

pub async fn update(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
    PageForm(form): PageForm<QueryForm>,
) -> ApiResult<Response> {
    let result = match change(&form) {
        Ok(change) => query_admin::update(&app, &viewer.principal, id, change, &ip).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/queries/{id}?notice=saved"))),
        Err(err) if form_problem(&err) => {
            let query = query_admin::read(&app, &viewer.principal, id).await?;
            let page =
                query_page(&app, &viewer, &query, &form, None, Some(&err.to_string())).await?;
            Ok((err.status(), page).into_response())
        }
        Err(err) => Err(err),
    }
}

pub async fn delete(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
) -> ApiResult<Response> {
    query_admin::delete(&app, &viewer.principal, id, &ip).await?;
    Ok(see_other("/queries?notice=deleted"))
}
