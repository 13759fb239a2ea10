//! The activity log: newest first, filtered by who and by type, a page at a time. The filters
//! and the cursor are in the URL, so a view can be bookmarked and shared.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flotilla::app::App;
use flotilla::domain::activities::{self, Activity, Filter, ListError};
use flotilla::domain::identity::users;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::actor_text;
use crate::context::Viewer;
use crate::layout;

/// Activities on a page.
pub const PER_PAGE: usize = 25;

/// Types the log records today (the type field takes others too: future ones, older ones).
const KNOWN_TYPES: &[&str] = &[
    "user_logged_in",
    "user_logged_out",
    "user_failed_login",
    "user_added_by_sso",
    "changed_password",
    "setup",
    "created_user",
    "edited_user",
    "changed_user_role",
    "deleted_user",
    "required_password_reset",
    "rotated_api_token",
    "edited_sso_settings",
    "edited_app_config",
    "edited_agent_options",
    "created_team",
    "edited_team",
    "deleted_team",
    "edited_enroll_secrets",
    "created_saved_query",
    "deleted_saved_query",
    "live_query",
    "deleted_host",
    "transferred_hosts",
    "created_package",
];

/// The URL's parameters, as text: a select's "any" is an empty value.
#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    actor: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    cursor: String,
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `/activity?...` for these filters and cursor.
fn link(actor: Option<u64>, kind: Option<&str>, cursor: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(actor) = actor {
        parts.push(format!("actor={actor}"));
    }
    if let Some(kind) = kind {
        parts.push(format!("type={}", encode(kind)));
    }
    if let Some(cursor) = cursor {
        parts.push(format!("cursor={}", encode(cursor)));
    }
    if parts.is_empty() {
        "/activity".to_string()
    } else {
        format!("/activity?{}", parts.join("&"))
    }
}

/// A detail's value as text (nested values as compact JSON).
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_string(),
        other => other.to_string(),
    }
}

fn details(details: &Value) -> Markup {
    html! {
        @match details {
            Value::Object(map) if map.is_empty() => {},
            Value::Object(map) => {
                dl class="details" {
                    @for (key, value) in map {
                        dt { (key.replace('_', " ")) } dd { (value_text(value)) }
                    }
                }
            },
            Value::Null => {},
            other => { (value_text(other)) },
        }
    }
}

fn row(now: chrono::DateTime<chrono::Utc>, activity: &Activity) -> Markup {
    html! {
        tr {
            td { (layout::when(now, Some(activity.created_at))) }
            td { (actor_text(&activity.actor)) }
            td { (activity.kind.replace('_', " ")) }
            td { (details(&activity.details)) }
            td { @if let Some(ip) = &activity.source_ip { (ip) } @else { span class="muted" { "unknown" } } }
        }
    }
}

/// `GET /activity`
pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    let everyone = users::list(app.state()).await?;
    let mut error = None;
    let actor = match params.actor.trim() {
        "" => None,
        raw => match raw.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                error = Some(format!("{raw:?} is not a user"));
                None
            }
        },
    };
    let kind = match params.kind.trim() {
        "" => None,
        raw if activities::valid_kind(raw) => Some(raw.to_string()),
        raw => {
            error = Some(format!(
                "{raw:?} is not an activity type: types are lower-case words joined by _, such as created_user"
            ));
            None
        }
    };
    let cursor = Some(params.cursor.trim()).filter(|c| !c.is_empty());
    let now = app.clock.now();
    let (page, next) = if error.is_some() {
        (Vec::new(), None)
    } else {
        let filter = Filter {
            actor_id: actor,
            kind: kind.clone(),
            ..Filter::default()
        };
        match activities::list(
            app.state(),
            now,
            app.settings.identity.activity_retention_days,
            &filter,
            cursor,
            PER_PAGE,
        )
        .await
        {
            Ok(found) => found,
            Err(ListError::BadCursor) => {
                error = Some("This page link is no longer valid: start from the newest.".into());
                (Vec::new(), None)
            }
            Err(ListError::Store(e)) => return Err(ApiError::from(e)),
        }
    };
    let typed_kind = params.kind.trim();
    let markup = layout::page(
        &viewer,
        "Activity",
        html! {
            h1 { "Activity" }
            form method="get" action="/activity" class="row" role="search" aria-label="Filter the activity" {
                label for="actor" {
                    "Who"
                    select id="actor" name="actor" {
                        option value="" selected[actor.is_none()] { "Anyone" }
                        @for user in &everyone {
                            option value=(user.id) selected[actor == Some(user.id)] { (user.name) " (" (user.email) ")" }
                        }
                        @if let Some(id) = actor.filter(|id| !everyone.iter().any(|u| u.id == *id)) {
                            option value=(id) selected { "user " (id) " (deleted)" }
                        }
                    }
                }
                label for="type" {
                    "Type"
                    input id="type" name="type" type="text" list="known-types" value=(typed_kind) maxlength="64" spellcheck="false" autocomplete="off";
                }
                datalist id="known-types" {
                    @for known in KNOWN_TYPES { option value=(known) {} }
                }
                button type="submit" { "Filter" }
                @if actor.is_some() || !typed_kind.is_empty() {
                    a href="/activity" { "Clear filters" }
                }
            }
            (layout::form_error(error.as_deref()))
            @if page.is_empty() && error.is_none() {
                p class="muted" { "No activity matches." }
            } @else if !page.is_empty() {
                div class="table-wrap" {
                    table {
                        thead {
                            tr {
                                th scope="col" { "When" }
                                th scope="col" { "Who" }
                                th scope="col" { "What" }
                                th scope="col" { "Details" }
                                th scope="col" { "From" }
                            }
                        }
                        tbody {
                            @for activity in &page { (row(now, activity)) }
                        }
                    }
                }
            }
            nav class="pager" aria-label="Pages" {
                @if cursor.is_some() {
                    a href=(link(actor, kind.as_deref(), None)) { "Newest" }
                }
                @if let Some(next) = &next {
                    a href=(link(actor, kind.as_deref(), Some(next))) rel="next" { "Older" }
                }
            }
        },
    );
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, markup).into_response())
}
