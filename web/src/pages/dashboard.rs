//! The dashboard: the fleet at a glance (from the host counters: `host_listing::summary`
//! never reads the hosts themselves), each number a link to the Hosts page filtered to it,
//! and what admins did lately.

use axum::extract::State;
use flotilla::app::App;
use flotilla::domain::activities::{self, Filter};
use flotilla::domain::host_listing::{self, HostSummary, Scopes};
use flotilla::domain::identity::roles::Permission;
use flotilla::error::ApiResult;
use maud::{html, Markup};

use crate::context::Viewer;
use crate::layout;

/// How many recent activities the dashboard shows.
const RECENT: usize = 8;

fn platform_text(family: &str) -> &str {
    crate::pages::hosts::list::PLATFORMS
        .iter()
        .find(|(key, _)| *key == family)
        .map_or(family, |(_, label)| label)
}

fn fleet(summary: &HostSummary, online_window: i64) -> Markup {
    let number = |n: i64| crate::pages::hosts::thousands(u64::try_from(n).unwrap_or(0));
    let link = |param: &str, value: &str| {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(param, value)
            .finish();
        format!("/hosts?{query}")
    };
    html! {
        section aria-labelledby="fleet" {
            h2 id="fleet" { "Hosts" }
            ul class="cards" {
                li { a href="/hosts" { span class="count" { (number(summary.total)) } " total" } }
                li { a href=(link("status", "online")) { span class="count" { (number(summary.online)) } " online" } }
                li { a href=(link("status", "offline")) { span class="count" { (number(summary.offline)) } " offline" } }
                li { a href=(link("status", "new")) { span class="count" { (number(summary.new)) } " new" } }
                li { a href=(link("status", "missing")) { span class="count" { (number(summary.missing)) } " missing" } }
            }
            p class="hint" {
                "Online: seen in the last " (online_window) " seconds (the check-in interval of the global agent options plus a grace for how often the last-seen time is written). "
                "New: enrolled in the last 24 hours. Missing: not seen for 30 days."
            }
            div class="row" {
                section aria-labelledby="by-platform" {
                    h3 id="by-platform" { "By platform" }
                    @if summary.by_platform.is_empty() { p class="muted" { "No hosts yet." } }
                    ul class="plain" {
                        @for (platform, n) in &summary.by_platform {
                            li { a href=(link("platform", platform)) { (platform_text(platform)) ": " (number(*n)) } }
                        }
                    }
                }
                section aria-labelledby="by-version" {
                    h3 id="by-version" { "By osquery version" }
                    @if summary.by_osquery_version.is_empty() { p class="muted" { "No hosts yet." } }
                    ul class="plain" {
                        @for (version, n) in &summary.by_osquery_version {
                            li {
                                @if version == "unknown" {
                                    "Not reported yet: " (number(*n))
                                } @else {
                                    a href=(link("osquery_version", version)) { (version) ": " (number(*n)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn show(State(app): State<App>, viewer: Viewer) -> ApiResult<Markup> {
    let now = app.clock.now();
    let fleet_summary = if viewer.can(Permission::ReadHosts) {
        let rules = host_listing::status_rules(&app).await?;
        let scopes = Scopes::within(None, &viewer.principal.teams_with(Permission::ReadHosts));
        let summary = host_listing::summary(app.state(), app.clock.unix(), &rules, &scopes).await?;
        Some((summary, rules.online_window_secs()))
    } else {
        None
    };
    let recent = if viewer.can_globally(Permission::ReadActivities) {
        let retention = app.settings.identity.activity_retention_days;
        let (items, _) = activities::list(
            app.state(),
            now,
            retention,
            &Filter::default(),
            None,
            RECENT,
        )
        .await
        .map_err(|e| flotilla::error::ApiError::Internal(e.to_string()))?;
        Some(items)
    } else {
        None
    };
    Ok(layout::page(
        &viewer,
        "Dashboard",
        html! {
            h1 { "Dashboard" }
            @if let Some((summary, window)) = &fleet_summary {
                (fleet(summary, *window))
            }
            @if let Some(recent) = recent {
                section aria-labelledby="recent" {
                    h2 id="recent" { "Recent activity" }
                    @if recent.is_empty() {
                        p class="muted" { "Nothing yet." }
                    } @else {
                        ul class="activity" {
                            @for a in &recent {
                                li {
                                    (crate::pages::activity_text(a)) " · " (layout::when(now, Some(a.created_at)))
                                }
                            }
                        }
                    }
                    p { a href="/activity" { "All activity" } }
                }
            }
        },
    ))
}
