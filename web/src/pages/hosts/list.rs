//! `GET /hosts`: the hosts of the viewer's teams a page at a time (`host_listing::list_page`
//! with the JSON API's parameters, so every filter, sort and cursor is in the URL), the count
//! of all that match, the CSV of them (the API's report, which takes the session cookie), and
//! for those who may change hosts, the checkboxes and actions of `bulk.rs`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use flotilla::api::admin::hosts::HostParams;
use flotilla::app::App;
use flotilla::domain::host_listing::{self, ListedHost, OrderKey};
use flotilla::domain::host_status;
use flotilla::domain::identity::roles::{Permission, Scope, TeamFilter};
use flotilla::domain::teams;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};

use super::{destinations, filter_pairs, hosts_text, team_text, thousands, with_query, Shown};
use crate::context::Viewer;
use crate::layout;

pub(crate) const PLATFORMS: [(&str, &str); 3] = [
    ("darwin", "macOS"),
    ("windows", "Windows"),
    ("linux", "Linux"),
];

pub(crate) const STATUSES: [(&str, &str); 4] = [
    ("online", "Online"),
    ("offline", "Offline"),
    ("new", "New (enrolled in the last 24 hours)"),
    ("missing", "Missing (not seen for 30 days)"),
];

/// The query string's parameters, read as the JSON API reads them; a malformed number is a
/// 400 page, and Fleet's `page` (which reads every page before it) is the API's alone.
pub(crate) fn params(query: Result<Query<HostParams>, QueryRejection>) -> ApiResult<HostParams> {
    let p = query
        .map(|Query(p)| p)
        .map_err(|_| ApiError::bad_request("per_page must be a whole number from 1 to 500"))?;
    if p.page.is_some() {
        return Err(ApiError::bad_request(
            "page is not taken here: follow the Next page link (after)",
        ));
    }
    if p.per_page
        .is_some_and(|n| n == 0 || n > host_listing::MAX_PER_PAGE)
    {
        return Err(ApiError::bad_request(
            "per_page must be a whole number from 1 to 500",
        ));
    }
    Ok(p)
}

/// The list's parameters, non-empty ones in a fixed order (`after` last).
fn list_pairs(p: &HostParams) -> Vec<(&'static str, String)> {
    let mut pairs = filter_pairs(p);
    for (k, v) in [
        ("order_key", &p.order_key),
        ("order_direction", &p.order_direction),
        ("after", &p.after),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((k, v.to_string()));
        }
    }
    if let Some(n) = p.per_page {
        pairs.push(("per_page", n.to_string()));
    }
    pairs
}

fn href(p: &HostParams) -> String {
    with_query("/hosts", &list_pairs(p))
}

/// The status in words: online or offline, and new or missing when it is.
pub(crate) fn status_text(online: bool, now: i64, seen: i64, enrolled_at: i64) -> String {
    let mut text = if online { "Online" } else { "Offline" }.to_string();
    if host_status::is_new(now, enrolled_at) {
        text.push_str(", new");
    }
    if host_status::is_missing(now, seen) {
        text.push_str(", missing");
    }
    text
}

pub(crate) fn status_class(online: bool) -> &'static str {
    if online {
        "status-online"
    } else {
        "status-offline"
    }
}

fn time(at: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(at, 0)
}

/// A column header that sorts by `key`: ascending first, the other way when it already is.
fn sort_header(p: &HostParams, key: &str, label: &str) -> Markup {
    let current = p
        .order_key
        .as_deref()
        .and_then(OrderKey::parse)
        .unwrap_or(OrderKey::Id);
    let sorted = OrderKey::parse(key) == Some(current);
    let descending = p.order_direction.as_deref() == Some("desc");
    let mut next = p.clone();
    next.after = None;
    next.order_key = Some(key.to_string());
    next.order_direction = Some(if sorted && !descending { "desc" } else { "asc" }.to_string());
    let (aria, mark) = match (sorted, descending) {
        (false, _) => (None, ""),
        (true, false) => (Some("ascending"), " \u{25b2}"),
        (true, true) => (Some("descending"), " \u{25bc}"),
    };
    html! {
        th scope="col" aria-sort=[aria] {
            a href=(href(&next)) {
                (label)
                @if !mark.is_empty() { span aria-hidden="true" { (mark) } }
                @if let Some(aria) = aria { span class="visually-hidden" { " (sorted " (aria) ")" } }
            }
        }
    }
}

/// The search and filter form (a GET: its answer is a link).
fn filters(p: &HostParams, teams: &[(String, String)]) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let team = value(&p.team_id);
    let platform = value(&p.platform);
    let status = value(&p.status);
    html! {
        form method="get" action="/hosts" class="filters" role="search" aria-label="Hosts" {
            div {
                label for="h-query" { "Search" }
                input id="h-query" name="query" type="search" value=(value(&p.query)) maxlength="200" aria-describedby="h-query-hint";
                p id="h-query-hint" class="hint" { "Part of a host name, UUID, serial number or IP address." }
            }
            div {
                label for="h-team" { "Team" }
                select id="h-team" name="team_id" {
                    option value="" selected[team.is_empty()] { "Any team" }
                    @for (id, name) in teams {
                        option value=(id) selected[&team == id] { (name) }
                    }
                }
            }
            div {
                label for="h-platform" { "Platform" }
                select id="h-platform" name="platform" {
                    option value="" selected[platform.is_empty()] { "Any platform" }
                    @for (key, label) in PLATFORMS {
                        option value=(key) selected[platform == key] { (label) }
                    }
                }
            }
            div {
                label for="h-status" { "Status" }
                select id="h-status" name="status" {
                    option value="" selected[status.is_empty()] { "Any status" }
                    @for (key, label) in STATUSES {
                        option value=(key) selected[status == key] { (label) }
                    }
                }
            }
            div {
                label for="h-version" { "osquery version" }
                input id="h-version" name="osquery_version" type="text" value=(value(&p.osquery_version)) maxlength="32" placeholder="5.12.1";
            }
            @if let Some(key) = p.order_key.as_deref().filter(|k| !k.is_empty()) {
                input type="hidden" name="order_key" value=(key);
            }
            @if let Some(direction) = p.order_direction.as_deref().filter(|d| !d.is_empty()) {
                input type="hidden" name="order_direction" value=(direction);
            }
            @if let Some(n) = p.per_page {
                input type="hidden" name="per_page" value=(n);
            }
            div class="actions" {
                button type="submit" class="primary" { "Show hosts" }
                " "
                a href="/hosts" { "Clear filters" }
            }
        }
    }
}

fn row(
    host: &ListedHost,
    now: i64,
    names: &std::collections::HashMap<u64, String>,
    // None: no checkbox column; Some(false): a host of a team the viewer may not change.
    checkbox: Option<bool>,
) -> Markup {
    let row = &host.row;
    let name = if row.display_name().is_empty() {
        format!("Host {}", row.id)
    } else {
        row.display_name().to_string()
    };
    let clock = time(now).unwrap_or_default();
    let dash = |text: &str| {
        if text.is_empty() {
            html! { span class="muted" { "Not reported yet" } }
        } else {
            html! { (text) }
        }
    };
    html! {
        tr {
            @match checkbox {
                Some(true) => td {
                    input type="checkbox" name="ids" value=(row.id) id=(format!("h-select-{}", row.id)) aria-label=(format!("Select {name}"));
                },
                Some(false) => td { span class="visually-hidden" { "Not yours to change" } },
                None => {},
            }
            td { a href=(format!("/hosts/{}", row.id)) { (name) } }
            td { span class=(status_class(host.online)) { (status_text(host.online, now, host.seen_time, row.enrolled_at)) } }
            td { (dash(&row.platform)) }
            td { (dash(&row.osquery_version)) }
            td { (team_text(names, row.team_id)) }
            td { (layout::when(clock, time(host.seen_time))) }
            td { (layout::when(clock, time(row.enrolled_at))) }
            td class="mono" { (dash(&row.primary_ip)) }
        }
    }
}

pub async fn list(
    State(app): State<App>,
    viewer: Viewer,
    query: Result<Query<HostParams>, QueryRejection>,
    Query(shown): Query<Shown>,
) -> ApiResult<Markup> {
    let p = params(query)?;
    let readable = viewer.principal.teams_with(Permission::ReadHosts);
    let host_query = p.host_query(&readable)?;
    let rules = host_listing::status_rules(&app).await?;
    let now = app.clock.unix();
    // The count beside the rows: exact from the counters when the filter allows, else an
    // estimate from as many rows as one page may read (the API's count reads four times more).
    let (listed, counted) = futures_util::try_join!(
        host_listing::list_page(app.state(), now, &rules, &host_query),
        host_listing::count_within(
            app.state(),
            now,
            &rules,
            &host_query.filter,
            host_listing::READ_BUDGET,
        ),
    )?;
    let all_teams = teams::list(app.state()).await?;
    let names = all_teams.iter().map(|t| (t.id, t.name.clone())).collect();
    let mut team_choices = Vec::new();
    if readable == TeamFilter::All {
        team_choices.push(("0".to_string(), "No team".to_string()));
    }
    team_choices.extend(
        all_teams
            .iter()
            .filter(|t| readable.includes(Some(t.id)))
            .map(|t| (t.id.to_string(), t.name.clone())),
    );
    let movable = destinations(&viewer, &all_teams);
    let writable = viewer.can(Permission::WriteHosts);
    let count_text = if counted.exact {
        hosts_text(counted.count)
    } else {
        format!("About {}", hosts_text(counted.count))
    };
    let csv = with_query("/api/v1/fleet/hosts/report", &{
        let mut pairs = vec![("format", "csv".to_string())];
        pairs.extend(filter_pairs(&p));
        for (k, v) in [
            ("order_key", &p.order_key),
            ("order_direction", &p.order_direction),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.push((k, v.to_string()));
            }
        }
        pairs
    });
    let next = listed.next_cursor.as_ref().map(|cursor| {
        let mut next = p.clone();
        next.after = Some(cursor.clone());
        href(&next)
    });
    let first = p.after.is_some().then(|| {
        let mut first = p.clone();
        first.after = None;
        href(&first)
    });
    let table = html! {
        div class="table-wrap" {
            table {
                caption class="visually-hidden" { "Hosts" }
                thead {
                    tr {
                        @if writable {
                            th scope="col" {
                                input type="checkbox" id="h-select-all" data-select-all="ids" aria-label="Select every host on this page";
                            }
                        }
                        (sort_header(&p, "hostname", "Host name"))
                        th scope="col" { "Status" }
                        th scope="col" { "Platform" }
                        th scope="col" { "osquery version" }
                        th scope="col" { "Team" }
                        (sort_header(&p, "last_seen", "Last seen"))
                        (sort_header(&p, "id", "Enrolled"))
                        th scope="col" { "IP address" }
                    }
                }
                tbody {
                    @for host in &listed.rows {
                        (row(host, now, &names, writable.then(|| viewer.principal.can(Permission::WriteHosts, Scope::of(host.row.team_id)))))
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &viewer,
        "Hosts",
        html! {
            h1 { "Hosts" }
            (layout::notice(shown.text().as_deref()))
            (filters(&p, &team_choices))
            p class="count" role="status" {
                strong { (count_text) }
                @if counted.count == 1 && counted.exact { " matches." } @else { " match." }
                " "
                a href=(csv) download="hosts.csv" { "Download CSV" }
                " of every matching host."
            }
            @if listed.rows.is_empty() {
                @if next.is_some() {
                    p class="muted" { "None on this stretch of the fleet: the next page looks further." }
                } @else {
                    p class="muted" { "No hosts match." }
                }
            } @else if writable {
                form method="post" action="/hosts/bulk" id="bulk" {
                    (layout::csrf_field(&viewer))
                    @for (k, v) in filter_pairs(&p) {
                        input type="hidden" name=(k) value=(v);
                    }
                    (table)
                    fieldset class="bulk" {
                        legend { "Change hosts" }
                        div {
                            input type="radio" id="h-scope-selected" name="scope" value="selected" checked;
                            " "
                            label for="h-scope-selected" { "The hosts checked above" }
                        }
                        div {
                            input type="radio" id="h-scope-filter" name="scope" value="filter";
                            " "
                            label for="h-scope-filter" { "All " (thousands(counted.count)) " hosts that match this filter" }
                        }
                        @if !movable.is_empty() {
                            label for="h-transfer-to" { "Team to move them to" }
                            select id="h-transfer-to" name="transfer_to" {
                                @for (value, name) in &movable {
                                    option value=(value) { (name) }
                                }
                            }
                        }
                        div class="actions" {
                            @if !movable.is_empty() {
                                button type="submit" name="action" value="transfer" { "Transfer to team\u{2026}" }
                                " "
                            }
                            button type="submit" name="action" value="delete" class="danger" { "Delete\u{2026}" }
                        }
                        p class="hint" { "Nothing changes until you confirm on the next page, which states the count." }
                    }
                }
            } @else {
                (table)
            }
            @if next.is_some() || first.is_some() {
                nav class="pager" aria-label="Pages of hosts" {
                    @if let Some(first) = &first { a href=(first) { "First page" } }
                    @if first.is_some() && next.is_some() { " · " }
                    @if let Some(next) = &next { a href=(next) rel="next" { "Next page" } }
                }
            }
        },
    ))
}
