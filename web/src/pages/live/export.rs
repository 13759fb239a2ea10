//! A campaign's exports (CSV, NDJSON): every result row the viewer may see, written by a job
//! (`domain::campaign_export`), downloaded through the API's download route, which takes the
//! session cookie on GET (a redirect to a presigned URL on AWS, the bytes locally).

use axum::extract::State;
use axum::response::Response;
use flotilla::api::admin::Id;
use flotilla::api::client_ip::ClientIp;
use flotilla::app::App;
use flotilla::domain::campaign_access;
use flotilla::domain::campaign_export::{self, Export, ExportFormat, ExportState};
use flotilla::domain::identity::audit;
use flotilla::domain::identity::roles::{Permission, TeamFilter};
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;
use crate::pages::see_other;

const FORMATS: [(ExportFormat, &str); 2] = [
    (ExportFormat::Csv, "CSV"),
    (ExportFormat::Ndjson, "NDJSON (one JSON object a line)"),
];

/// The viewer's exports of the campaign, by format (an export is per team scope).
pub async fn current(
    app: &App,
    campaign_id: u64,
    visible: &TeamFilter,
) -> ApiResult<Vec<(ExportFormat, &'static str, Option<Export>)>> {
    let mut out = Vec::new();
    for (format, label) in FORMATS {
        out.push((
            format,
            label,
            campaign_export::get(app, campaign_id, format, visible).await?,
        ));
    }
    Ok(out)
}

/// Whether an export is still being written (the page keeps refreshing for it).
pub fn busy(exports: &[(ExportFormat, &'static str, Option<Export>)]) -> bool {
    exports.iter().any(|(_, _, e)| {
        e.as_ref()
            .is_some_and(|e| matches!(e.state, ExportState::Queued | ExportState::Running))
    })
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    } else if bytes >= 1000 {
        format!("{:.1} kB", bytes as f64 / 1000.0)
    } else {
        format!("{bytes} B")
    }
}

/// The exports' states, with download links for the finished ones.
pub fn states(
    campaign_id: u64,
    exports: &[(ExportFormat, &'static str, Option<Export>)],
) -> Markup {
    html! {
        ul class="plain exports" {
            @for (format, label, export) in exports {
                li {
                    strong { (label) ": " }
                    @match export {
                        None => span class="muted" { "not asked for" },
                        Some(export) => @match export.state {
                            ExportState::Queued => span { "queued…" },
                            ExportState::Running => span { "being written…" },
                            ExportState::Failed => span class="status-error" {
                                "failed: " (export.error.as_deref().unwrap_or("ask again"))
                            },
                            ExportState::Done => {
                                a href=(format!("/api/v1/fleet/campaigns/{campaign_id}/export/download?format={}", format.as_str()))
                                    download=(export.file_name()) {
                                    "Download " (export.file_name())
                                }
                                " " span class="muted" {
                                    "(" (export.rows) " rows from " (export.hosts) " hosts, " (size_text(export.size)) ")"
                                }
                            },
                        },
                    }
                }
            }
        }
    }
}

/// The form that asks for an export.
pub fn form(viewer: &Viewer, campaign_id: u64) -> Markup {
    html! {
        form method="post" action=(format!("/live/{campaign_id}/export")) class="row" {
            (layout::csrf_field(viewer))
            label for="export-format" {
                "Format"
                select id="export-format" name="format" {
                    @for (format, label) in FORMATS {
                        option value=(format.as_str()) { (label) }
                    }
                }
            }
            button type="submit" { "Export every row" }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportForm {
    format: String,
    #[allow(dead_code)]
    csrf_token: Option<String>,
}

/// `POST /live/{id}/export`: queues the export (the API's `export`), back to the page.
pub async fn submit(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Id(id): Id,
    PageForm(form): PageForm<ExportForm>,
) -> ApiResult<Response> {
    let format = ExportFormat::parse(&form.format)
        .ok_or_else(|| ApiError::bad_request("format must be csv or ndjson"))?;
    let principal = &viewer.principal;
    let campaign = campaign_access::visible(&app, principal, id).await?;
    let visible = principal.teams_with(Permission::ReadCampaigns);
    campaign_export::request(&app, &campaign, format, &visible, principal.user_id()).await?;
    audit::record(
        &app,
        principal.actor(),
        "exported_live_query_results",
        json!({"campaign_id": id, "format": format}),
        &ip,
    )
    .await?;
    Ok(see_other(&format!("/live/{id}?notice=export#export")))
}
