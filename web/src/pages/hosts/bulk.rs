//! `POST /hosts/bulk`: transfer or delete the hosts checked on the list, or every host that
//! matches its filter. A post without `confirm` changes nothing: it answers a page that states
//! the count with the same fields and a confirm button; only the confirmed post acts (through
//! `host_admin`, which checks the viewer's role on every host's team), then back to /hosts.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use flotilla::api::admin::hosts::HostParams;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::host_changes::BulkAction;
use flotilla::domain::host_listing::{self, HostFilter};
use flotilla::domain::identity::roles::Permission;
use flotilla::domain::{host_admin, hosts, teams};
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};

use super::{destination, filter_pairs, hosts_text, team_text, with_query};
use crate::context::Viewer;
use crate::forms::PageFields;
use crate::layout;
use crate::pages::see_other;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Transfer,
    Delete,
}

/// What the form asks, read strictly: an unknown field or value is a 400.
struct BulkForm {
    action: Action,
    /// None: the checked hosts; Some: every host the filter matches.
    by_filter: bool,
    ids: Vec<u64>,
    transfer_to: Option<String>,
    filter: HostParams,
    confirmed: bool,
}

fn read(fields: &[(String, String)]) -> ApiResult<BulkForm> {
    let mut action = None;
    let mut by_filter = false;
    let mut ids = Vec::new();
    let mut transfer_to = None;
    let mut filter = HostParams::default();
    let mut confirmed = false;
    for (name, value) in fields {
        let text = Some(value.clone());
        match name.as_str() {
            "csrf_token" => {}
            "action" => {
                action = Some(match value.as_str() {
                    "transfer" => Action::Transfer,
                    "delete" => Action::Delete,
                    _ => return Err(ApiError::bad_request("action must be transfer or delete")),
                })
            }
            "scope" => {
                by_filter = match value.as_str() {
                    "selected" => false,
                    "filter" => true,
                    _ => return Err(ApiError::bad_request("scope must be selected or filter")),
                }
            }
            "ids" => ids.push(
                value
                    .parse::<u64>()
                    .map_err(|_| ApiError::bad_request("ids must be host ids"))?,
            ),
            "transfer_to" => transfer_to = text,
            "confirm" => confirmed = true,
            "query" => filter.query = text,
            "team_id" => filter.team_id = text,
            "platform" => filter.platform = text,
            "status" => filter.status = text,
            "osquery_version" => filter.osquery_version = text,
            other => {
                return Err(ApiError::bad_request(format!(
                    "the form has a field it should not: {other}"
                )))
            }
        }
    }
    Ok(BulkForm {
        action: action.ok_or_else(|| ApiError::bad_request("choose transfer or delete"))?,
        by_filter,
        ids,
        transfer_to,
        filter,
        confirmed,
    })
}

/// What a confirmed form would change: the checked hosts (each checked now, 403 for one the
/// viewer may not change), or the filter within the teams the viewer may change hosts of.
enum Target {
    Ids(Vec<u64>),
    Filter(HostFilter),
}

async fn target(app: &App, viewer: &Viewer, form: &BulkForm) -> ApiResult<(Target, u64, bool)> {
    let principal = &viewer.principal;
    if form.by_filter {
        let filter = form
            .filter
            .filter(&principal.teams_with(Permission::WriteHosts))?;
        let rules = host_listing::status_rules(app).await?;
        let counted = host_listing::count(app.state(), app.clock.unix(), &rules, &filter).await?;
        return Ok((Target::Filter(filter), counted.count, counted.exact));
    }
    if form.ids.is_empty() {
        return Err(ApiError::bad_request(
            "check the hosts to change, or choose all hosts that match the filter",
        ));
    }
    let ids = host_admin::checked_ids(form.ids.clone(), "the selection")?;
    for id in &ids {
        hosts::require_access(app.state(), principal, Permission::WriteHosts, *id).await?;
    }
    let count = ids.len() as u64;
    Ok((Target::Ids(ids), count, true))
}

fn question(action: Action, count: u64, exact: bool, team: &str) -> String {
    let about = if exact { "" } else { "about " };
    match action {
        Action::Delete => format!("Delete {about}{}?", hosts_text(count)),
        Action::Transfer => format!("Move {about}{} to {team}?", hosts_text(count)),
    }
}

fn confirm_page(
    viewer: &Viewer,
    form: &BulkForm,
    ids: &[u64],
    count: u64,
    exact: bool,
    team: &str,
) -> Markup {
    let title = question(form.action, count, exact, team);
    let back = with_query("/hosts", &filter_pairs(&form.filter));
    html! {
        p { a href=(back) { "Hosts" } }
        h1 { (title) }
        @if form.by_filter {
            p { "Every host that matches the filter, in the teams whose hosts you may change." }
            @if !exact {
                p class="hint" { "The count is an estimate from part of the fleet; the change reaches every matching host." }
            }
        } @else {
            p { "The hosts you checked." }
        }
        @match form.action {
            Action::Delete => p { "Deleted hosts stop reporting until they enroll again, as new hosts." },
            Action::Transfer => p { "They get the new team's agent options and queries at their next check-in." },
        }
        form method="post" action="/hosts/bulk" {
            (layout::csrf_field(viewer))
            input type="hidden" name="action" value=(match form.action { Action::Delete => "delete", Action::Transfer => "transfer" });
            input type="hidden" name="scope" value=(if form.by_filter { "filter" } else { "selected" });
            @for id in ids {
                input type="hidden" name="ids" value=(id);
            }
            @if let Some(to) = &form.transfer_to {
                input type="hidden" name="transfer_to" value=(to);
            }
            @for (k, v) in filter_pairs(&form.filter) {
                input type="hidden" name=(k) value=(v);
            }
            div class="actions" {
                @match form.action {
                    Action::Delete => button type="submit" name="confirm" value="yes" class="danger" { "Delete " (hosts_text(count)) },
                    Action::Transfer => button type="submit" name="confirm" value="yes" class="primary" { "Move " (hosts_text(count)) },
                }
                " "
                a href=(back) { "Cancel" }
            }
        }
    }
}

pub async fn submit(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    PageFields(fields): PageFields,
) -> ApiResult<Response> {
    let form = read(&fields)?;
    let team_id = match (form.action, &form.transfer_to) {
        (Action::Transfer, Some(to)) => destination(to)?,
        (Action::Transfer, None) => destination("")?,
        (Action::Delete, _) => None,
    };
    if form.action == Action::Transfer {
        host_admin::require_destination(&app, &viewer.principal, team_id).await?;
    }
    let (target, count, exact) = target(&app, &viewer, &form).await?;
    if !form.confirmed {
        let names = teams::list(app.state())
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect();
        let team = team_text(&names, team_id);
        let ids = match &target {
            Target::Ids(ids) => ids.as_slice(),
            Target::Filter(_) => &[],
        };
        let title = question(form.action, count, exact, &team);
        let page = layout::page(
            &viewer,
            &title,
            confirm_page(&viewer, &form, ids, count, exact, &team),
        );
        return Ok(page.into_response());
    }
    let principal = &viewer.principal;
    let to = match target {
        Target::Ids(ids) => {
            match form.action {
                Action::Delete => host_admin::delete_ids(&app, principal, &ids, &ip).await?,
                Action::Transfer => {
                    host_admin::transfer_ids(&app, principal, team_id, &ids, &ip).await?
                }
            }
            let notice = match form.action {
                Action::Delete => "hosts-deleted",
                Action::Transfer => "hosts-transferred",
            };
            format!("/hosts?notice={notice}&count={}", ids.len())
        }
        Target::Filter(filter) => {
            let action = match form.action {
                Action::Delete => BulkAction::Delete,
                Action::Transfer => BulkAction::Transfer { team_id },
            };
            let counted = host_admin::start_by_filter(&app, principal, &ip, action, filter).await?;
            format!("/hosts?notice=bulk-started&count={}", counted.count)
        }
    };
    Ok(see_other(&to))
}
