//! Hosts: the list (`list.rs`: search, filters, sort, cursor pages, the CSV link), changes to
//! many hosts at once with a confirmation that states the count (`bulk.rs`), and one host's
//! page with its refetch, transfer and delete (`host.rs`). Everything goes through the domain
//! functions the JSON API uses (`host_listing`, `host_admin`), with the same parameters.

pub mod bulk;
pub mod host;
pub mod list;

use std::collections::HashMap;

use flotilla::api::admin::hosts::HostParams;
use flotilla::domain::identity::roles::{Permission, Scope};
use flotilla::domain::teams::Team;
use serde::Deserialize;

use crate::context::Viewer;

/// The notice after a change, and the count it states (a number: a link cannot make the page
/// say anything else).
#[derive(Deserialize, Default)]
pub struct Shown {
    notice: Option<String>,
    count: Option<u64>,
}

impl Shown {
    fn text(&self) -> Option<String> {
        let count = self.count.map(thousands).unwrap_or_else(|| "The".into());
        Some(match self.notice.as_deref()? {
            "deleted" => "The host is deleted.".into(),
            "transferred" => "The host is moved to its new team.".into(),
            "refetch" => "The host sends fresh vitals at its next check-in.".into(),
            "hosts-deleted" => format!("{count} hosts deleted."),
            "hosts-transferred" => format!("{count} hosts moved to their new team."),
            "bulk-started" => format!(
                "The change of {count} hosts is under way: it reaches every matching host within a few minutes."
            ),
            _ => return None,
        })
    }
}

/// 1234567 as "1,234,567".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 host", "1,234 hosts".
pub(crate) fn hosts_text(n: u64) -> String {
    if n == 1 {
        "1 host".into()
    } else {
        format!("{} hosts", thousands(n))
    }
}

pub(crate) fn team_text(names: &HashMap<u64, String>, team: Option<u64>) -> String {
    match team {
        None => "No team".into(),
        Some(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("Team {id}")),
    }
}

/// The teams hosts may be moved to by the viewer: (form value, name); `0` is no team, as
/// the API's `team_id` says it.
pub(crate) fn destinations(viewer: &Viewer, teams: &[Team]) -> Vec<(String, String)> {
    let principal = &viewer.principal;
    let mut out = Vec::new();
    if principal.can(Permission::WriteHosts, Scope::Global) {
        out.push(("0".to_string(), "No team".to_string()));
    }
    out.extend(
        teams
            .iter()
            .filter(|t| principal.can(Permission::WriteHosts, Scope::Team(t.id)))
            .map(|t| (t.id.to_string(), t.name.clone())),
    );
    out
}

/// A destination as the form sends it: `0` no team, else a team id.
pub(crate) fn destination(value: &str) -> Result<Option<u64>, flotilla::error::ApiError> {
    match value.trim().parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(id) => Ok(Some(id)),
        Err(_) => Err(flotilla::error::ApiError::bad_request(
            "choose the team to move the hosts to",
        )),
    }
}

/// The filter parameters (the JSON API's names), non-empty ones only, in a fixed order.
pub(crate) fn filter_pairs(p: &HostParams) -> Vec<(&'static str, String)> {
    [
        ("query", &p.query),
        ("team_id", &p.team_id),
        ("platform", &p.platform),
        ("status", &p.status),
        ("osquery_version", &p.osquery_version),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| (k, v.to_string()))
    })
    .collect()
}

/// A path with these parameters as its query string.
pub(crate) fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(hosts_text(1), "1 host");
        assert_eq!(hosts_text(1234), "1,234 hosts");
    }
}
