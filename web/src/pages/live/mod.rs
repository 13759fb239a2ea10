//! Live queries: the run form (`run`), a campaign's page with its results window and errors
//! (`campaign`, `window`), and its exports (`export`). Every rule on who may run, see or stop
//! a campaign is `domain::campaign_access`'s, the same the JSON API applies.

pub mod campaign;
pub mod export;
pub mod run;
mod window;

use flotilla::domain::campaigns::{Campaign, CampaignStatus};
use maud::{html, Markup};

/// The campaign's state in words (never by colour alone).
fn status_text(status: CampaignStatus) -> (&'static str, &'static str) {
    match status {
        CampaignStatus::Running => ("Running", "status-online"),
        CampaignStatus::Stopped => ("Stopped", "status-offline"),
        CampaignStatus::Expired => ("Finished", "status-offline"),
    }
}

/// What a campaign targets, in words.
fn targets_text(
    campaign: &Campaign,
    team_names: &std::collections::HashMap<u64, String>,
) -> String {
    let targets = &campaign.targets;
    if targets.all {
        return "All hosts".into();
    }
    let mut parts = Vec::new();
    if !targets.teams.is_empty() {
        let names: Vec<String> = targets
            .teams
            .iter()
            .map(|t| {
                team_names
                    .get(t)
                    .cloned()
                    .unwrap_or_else(|| format!("team {t}"))
            })
            .collect();
        parts.push(format!("Teams: {}", names.join(", ")));
    }
    match targets.hosts.len() {
        0 => {}
        1 => parts.push("1 chosen host".into()),
        n => parts.push(format!("{n} chosen hosts")),
    }
    parts.join("; ")
}

/// The SQL, shown whole but scrollable (focusable, so the keyboard scrolls it too).
fn sql_block(sql: &str) -> Markup {
    html! { pre class="sql-block" tabindex="0" { code { (sql) } } }
}
