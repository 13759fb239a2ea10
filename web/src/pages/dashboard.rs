//! The dashboard: the fleet at a glance and what admins did lately.

use axum::extract::State;
use flotilla::app::App;
use flotilla::domain::activities::{self, Filter};
use flotilla::domain::identity::roles::Permission;
use flotilla::error::ApiResult;
use maud::{html, Markup};

use crate::context::Viewer;
use crate::layout;

/// How many recent activities the dashboard shows.
const RECENT: usize = 8;

pub async fn show(State(app): State<App>, viewer: Viewer) -> ApiResult<Markup> {
    let now = app.clock.now();
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
