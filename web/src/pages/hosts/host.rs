//! `GET /hosts/{id}`: one host as the viewer may see it (404 for a host of another team, as
//! for one that does not exist): its vitals, team, times and status, the agent options in
//! effect for it and the intervals they set, its carves and recent live queries; and its
//! refetch, transfer and delete forms.

use axum::extract::{Query, State};
use axum::response::Response;
use flotilla::api::admin::Id;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::campaigns::{self, HostCampaign};
use flotilla::domain::carves::Carve;
use flotilla::domain::hosts::{Host, HostState};
use flotilla::domain::identity::roles::{Permission, Scope};
use flotilla::domain::{
    agent_options, app_config, carve_access, host_admin, host_listing, refetch, teams,
};
use flotilla::error::ApiResult;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::list::{status_class, status_text};
use super::{destination, destinations, team_text, Shown};
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;
use crate::pages::see_other;

/// How many of the newest live queries the page looks through for this host's.
const RECENT_CAMPAIGNS: usize = 50;

const NOT_YET: &str = "Not reported yet";

fn shown(text: &str) -> Markup {
    html! {
        @if text.trim().is_empty() { span class="muted" { (NOT_YET) } } @else { (text) }
    }
}

/// The vital if the host reported one, else what it said when it enrolled.
fn pick(vital: &Option<String>, fallback: &str) -> String {
    vital
        .as_deref()
        .filter(|v| !v.is_empty())
        .unwrap_or(fallback)
        .to_string()
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn duration_text(secs: u64) -> String {
    match secs {
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 2 * 86_400 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// An interval in seconds, or `missing` in muted words.
fn seconds(value: Option<u64>, missing: &str) -> Markup {
    html! {
        @match value {
            Some(s) => { (s) " seconds" },
            None => span class="muted" { (missing) },
        }
    }
}

const DEFAULT: &str = "Not set: osquery's default";

/// The agent options in effect for the host (its team's, else the global ones), and where
/// they come from in words.
async fn options_in_effect(app: &App, host: &Host, team_name: &str) -> ApiResult<(String, Value)> {
    if let Some(team) = host.team_id {
        if let Some(options) = teams::get(app.state(), team)
            .await?
            .and_then(|t| t.agent_options)
        {
            return Ok((format!("The agent options of team {team_name}."), options));
        }
    }
    let global = app_config::load(app.state()).await?.agent_options;
    let source = if host.team_id.is_some() {
        "The global agent options: its team has none of its own."
    } else {
        "The global agent options."
    };
    Ok((source.to_string(), global))
}

/// An interval the options set, in seconds (osquery's flag names; `config_refresh` is the
/// older name of `config_tls_refresh`).
fn option_secs(config: &Value, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|name| config["options"].get(*name).and_then(Value::as_u64))
}

fn vitals(state: &HostState) -> Markup {
    let host = &state.host;
    let v = state.vitals.clone().unwrap_or_default();
    html! {
        dt { "Host name" } dd { (shown(&pick(&v.hostname, &host.hostname))) }
        dt { "Computer name" } dd { (shown(&pick(&v.computer_name, &host.computer_name))) }
        dt { "UUID" } dd class="mono" { (shown(&host.uuid)) }
        dt { "Serial number" } dd class="mono" { (shown(&pick(&v.hardware_serial, &host.hardware_serial))) }
        dt { "Hardware" } dd { (shown(&pick(&v.hardware_model, &host.hardware_model))) }
        dt { "CPU" } dd { (shown(v.cpu_brand.as_deref().unwrap_or(""))) }
        dt { "Memory" } dd { (shown(&v.memory.map(gigabytes).unwrap_or_default())) }
        dt { "Operating system" } dd { (shown(&pick(&v.os_version, &host.os_version))) }
        dt { "Platform" } dd { (shown(&pick(&v.platform, &host.platform))) }
        dt { "IP address" } dd class="mono" { (shown(v.primary_ip.as_deref().unwrap_or(""))) }
        dt { "MAC address" } dd class="mono" { (shown(v.primary_mac.as_deref().unwrap_or(""))) }
        dt { "Disk space" } dd {
            @match (v.gigs_disk_space_available, v.gigs_total_disk_space) {
                (Some(free), Some(total)) if total > 0.0 => {
                    (format!("{free:.1} GB free of {total:.1} GB"))
                    @if let Some(pct) = v.percent_disk_space_available { (format!(" ({pct:.0}%)")) }
                },
                _ => span class="muted" { (NOT_YET) },
            }
        }
        dt { "Uptime" } dd { (shown(&v.uptime_seconds.map(duration_text).unwrap_or_default())) }
    }
}

fn carves_section(carves: &[Carve], now: i64) -> Markup {
    html! {
        @if carves.is_empty() {
            p class="muted" { "No carves of this host." }
        } @else {
            ul class="plain" {
                @for carve in carves.iter().rev() {
                    li {
                        a href=(format!("/carves/{}", carve.id)) { (carve.name) }
                        " · "
                        @if carve.expired(now) { "expired" }
                        @else if carve.completed_at.is_some() { "complete" }
                        @else if carve.error.is_some() { "error" }
                        @else { "receiving blocks" }
                    }
                }
            }
        }
    }
}

fn campaigns_section(recent: &[HostCampaign], clock: chrono::DateTime<chrono::Utc>) -> Markup {
    html! {
        p class="hint" { "Among the " (RECENT_CAMPAIGNS) " newest live queries, those that targeted this host." }
        @if recent.is_empty() {
            p class="muted" { "None of them targeted this host." }
        } @else {
            div class="table-wrap" {
                table {
                    thead {
                        tr {
                            th scope="col" { "Live query" }
                            th scope="col" { "SQL" }
                            th scope="col" { "Started" }
                            th scope="col" { "This host's answer" }
                        }
                    }
                    tbody {
                        @for item in recent {
                            tr {
                                td { (item.campaign.id) }
                                td { code class="sql" { (item.campaign.query) } }
                                td { (layout::when(clock, Some(item.campaign.created_at))) }
                                td {
                                    @match &item.answer {
                                        None => span class="muted" { "No answer" },
                                        Some(answer) => {
                                            @if let Some(error) = &answer.error {
                                                span class="status-error" { "Error: " (error) }
                                            } @else {
                                                @match answer.rows {
                                                    Some(1) => "1 row",
                                                    Some(n) => { (n) " rows" },
                                                    None => "Rows stored apart (large)",
                                                }
                                            }
                                            " · " (layout::when(clock, Some(answer.received_at)))
                                        },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Id(id): Id,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let state = host_admin::visible(&app, &viewer.principal, id).await?;
    let host = &state.host;
    let scope = Scope::of(host.team_id);
    let principal = &viewer.principal;
    let clock = app.clock.now();
    let now = app.clock.unix();
    let all_teams = teams::list(app.state()).await?;
    let names = all_teams.iter().map(|t| (t.id, t.name.clone())).collect();
    let team = team_text(&names, host.team_id);
    let rules = host_listing::status_rules(&app).await?;
    let seen = state
        .seen
        .map(|s| s.seen_time)
        .unwrap_or(host.last_enrolled_at.timestamp());
    let online = rules.is_online(now, seen);
    let (source, options) = options_in_effect(&app, host, &team).await?;
    let platforms = Host::platform_keys(&host.platform, &host.platform_like);
    let platforms: Vec<&str> = platforms.iter().map(String::as_str).collect();
    let config = agent_options::render(&options, &platforms, serde_json::Map::new());
    let options_text = serde_json::to_string_pretty(&options)
        .map_err(|e| flotilla::error::ApiError::Internal(e.to_string()))?;
    let carves = if principal.can(Permission::ReadCarves, scope) {
        let mut mine = carve_access::visible(&app, principal, true).await?;
        mine.retain(|c| c.host_id == id);
        Some(mine)
    } else {
        None
    };
    let recent = if principal.can(Permission::ReadCampaigns, scope) {
        Some(
            campaigns::recent_for_host(
                &app,
                host,
                &principal.teams_with(Permission::ReadCampaigns),
                RECENT_CAMPAIGNS,
            )
            .await?,
        )
    } else {
        None
    };
    let writable = principal.can(Permission::WriteHosts, scope);
    let movable: Vec<(String, String)> = destinations(&viewer, &all_teams)
        .into_iter()
        .filter(|(value, _)| destination(value).ok() != Some(host.team_id))
        .collect();
    let vitals_at = state.vitals.as_ref().map(|v| v.updated_at);
    let reported = state.vitals.clone().unwrap_or_default();
    let title = pick(&reported.hostname, &host.hostname);
    let title = if title.is_empty() {
        format!("Host {id}")
    } else {
        title
    };
    let orbit_version = reported.orbit_version.as_deref().filter(|v| !v.is_empty());
    let base = format!("/hosts/{id}");
    Ok(layout::page(
        &viewer,
        &title,
        html! {
            p { a href="/hosts" { "Hosts" } }
            h1 { (title) }
            (layout::notice(q.text().as_deref()))
            dl class="facts" {
                dt { "Status" } dd {
                    span class=(status_class(online)) { (status_text(online, now, seen, host.enrolled_at.timestamp())) }
                }
                dt { "Team" } dd { (team) }
                (vitals(&state))
                dt { "osquery version" } dd { (shown(&pick(&reported.osquery_version, &host.osquery_version))) }
                dt { "Orbit (fleetd)" } dd {
                    @match orbit_version {
                        Some(version) => { (version) },
                        None if host.orbit_node_key_hash.is_some() => { "Enrolled; its version is " span class="muted" { "not reported yet" } },
                        None => { span class="muted" { "Not enrolled (osquery only)" } },
                    }
                }
                dt { "Enrolled" } dd { (layout::when(clock, Some(host.enrolled_at))) }
                @if host.last_enrolled_at != host.enrolled_at {
                    dt { "Enrolled again" } dd { (layout::when(clock, Some(host.last_enrolled_at))) }
                }
                dt { "Last seen" } dd { (layout::when(clock, chrono::DateTime::from_timestamp(seen, 0))) }
                dt { "Vitals updated" } dd {
                    @match vitals_at {
                        Some(at) => (layout::when(clock, Some(at))),
                        None => span class="muted" { (NOT_YET) },
                    }
                }
                dt { "Host id" } dd { (id) }
            }
            form method="post" action=(format!("{base}/refetch")) {
                (layout::csrf_field(&viewer))
                button type="submit" { "Refetch vitals" }
                " "
                span class="hint" { "The host sends fresh vitals at its next check-in." }
            }

            h2 id="intervals" { "Check-in intervals" }
            div class="table-wrap" {
                table aria-labelledby="intervals" {
                    thead {
                        tr {
                            th scope="col" { "osquery flag" }
                            th scope="col" { "Set by the agent options" }
                            th scope="col" { "Reported by the host" }
                        }
                    }
                    tbody {
                        tr {
                            th scope="row" class="mono" { "distributed_interval" }
                            td { (seconds(option_secs(&config, &["distributed_interval"]), DEFAULT)) }
                            td { (seconds(reported.distributed_interval, NOT_YET)) }
                        }
                        tr {
                            th scope="row" class="mono" { "config_tls_refresh" }
                            td { (seconds(option_secs(&config, &["config_tls_refresh", "config_refresh"]), DEFAULT)) }
                            td { (seconds(reported.config_tls_refresh, NOT_YET)) }
                        }
                        tr {
                            th scope="row" class="mono" { "logger_tls_period" }
                            td { (seconds(option_secs(&config, &["logger_tls_period"]), DEFAULT)) }
                            td { (seconds(reported.logger_tls_period, NOT_YET)) }
                        }
                    }
                }
            }
            @if vitals_at.is_none() {
                p class="hint" { "Not reported yet: the host has not answered the vitals queries since it enrolled." }
            }

            h2 id="options" { "Agent options in effect" }
            p { (source) }
            pre class="options" tabindex="0" aria-labelledby="options" { code { (options_text) } }

            @if let Some(carves) = &carves {
                h2 { "Carves" }
                (carves_section(carves, now))
            }
            @if let Some(recent) = &recent {
                h2 { "Live queries" }
                (campaigns_section(recent, clock))
            }

            @if writable {
                @if !movable.is_empty() {
                    h2 { "Transfer to team" }
                    form method="post" action=(format!("{base}/transfer")) class="row" {
                        (layout::csrf_field(&viewer))
                        label for="h-team" {
                            "Team"
                            select id="h-team" name="team_id" {
                                @for (value, name) in &movable {
                                    option value=(value) { (name) }
                                }
                            }
                        }
                        button type="submit" { "Transfer" }
                    }
                }
                h2 { "Delete" }
                p class="hint" { "A deleted host stops reporting until it enrolls again, as a new host." }
                (layout::delete_form(&viewer, &format!("{base}/delete"), &format!("Delete the host \u{201c}{title}\u{201d}?"), &format!("Delete host {title}")))
            }
        },
    ))
}

pub async fn refetch(State(app): State<App>, viewer: Viewer, Id(id): Id) -> ApiResult<Response> {
    host_admin::visible(&app, &viewer.principal, id).await?;
    refetch::request(&app, id).await?;
    Ok(see_other(&format!("/hosts/{id}?notice=refetch")))
}

#[derive(Deserialize)]
pub struct TransferForm {
    team_id: String,
}

pub async fn transfer(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
    PageForm(form): PageForm<TransferForm>,
) -> ApiResult<Response> {
    host_admin::visible(&app, &viewer.principal, id).await?;
    let team = destination(&form.team_id)?;
    host_admin::transfer_ids(&app, &viewer.principal, team, &[id], &ip).await?;
    Ok(see_other(&format!("/hosts/{id}?notice=transferred")))
}

pub async fn delete(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
) -> ApiResult<Response> {
    host_admin::visible(&app, &viewer.principal, id).await?;
    host_admin::delete(&app, &viewer.principal, id, &ip).await?;
    Ok(see_other("/hosts?notice=deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_from_options() {
        let config =
            serde_json::json!({"options": {"distributed_interval": 30, "config_refresh": 60}});
        assert_eq!(option_secs(&config, &["distributed_interval"]), Some(30));
        assert_eq!(
            option_secs(&config, &["config_tls_refresh", "config_refresh"]),
            Some(60)
        );
        assert_eq!(option_secs(&config, &["logger_tls_period"]), None);
        assert_eq!(duration_text(7200), "2 hours");
    }
}
