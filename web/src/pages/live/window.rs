//! The window of result rows a campaign's page shows: at most `WINDOW_ROWS` rows from where
//! the link says, then a "Next rows" link. Results come a host at a time (`results_page`);
//! a window may end inside a host's rows, so its link carries the domain's cursor plus how
//! many rows of the next host were already shown (`skip=<host>-<rows>`). There is no cap
//! overall: every row is reachable by following the links, and the export holds them all.

use flotilla::app::App;
use flotilla::domain::campaigns::{self, CampaignResult};
use flotilla::domain::identity::roles::TeamFilter;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Rows one window shows.
pub const WINDOW_ROWS: usize = 100;
/// A cell longer than this is cut in the window (the export has it whole).
const CELL_CHARS: usize = 300;
/// Longer `after` values are not cursors of ours.
const MAX_CURSOR_LEN: usize = 64;

/// Where a window starts: after the domain cursor, skipping rows of the first host.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Position {
    #[serde(default)]
    pub after: Option<String>,
    /// `<host id>-<rows>`: rows of that host already shown.
    #[serde(default)]
    pub skip: Option<String>,
    /// A notice code (the campaign page's; ignored by the fragment).
    #[serde(default)]
    pub notice: Option<String>,
}

impl Position {
    fn skip(&self) -> ApiResult<Option<(u64, usize)>> {
        let Some(raw) = self.skip.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let bad = || ApiError::bad_request("skip must be <host id>-<rows>");
        let (host, rows) = raw.split_once('-').ok_or_else(bad)?;
        let host = host.parse().map_err(|_| bad())?;
        let rows = rows.parse().map_err(|_| bad())?;
        Ok(Some((host, rows)))
    }

    fn after(&self) -> ApiResult<Option<&str>> {
        match self.after.as_deref().filter(|s| !s.is_empty()) {
            Some(c) if c.len() > MAX_CURSOR_LEN => Err(ApiError::bad_request("invalid cursor")),
            other => Ok(other),
        }
    }

    /// The query string of this position (empty at the start).
    pub fn query(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if let Some(after) = self.after.as_deref().filter(|s| !s.is_empty()) {
            out.append_pair("after", after);
        }
        if let Some(skip) = self.skip.as_deref().filter(|s| !s.is_empty()) {
            out.append_pair("skip", skip);
        }
        out.finish()
    }

    pub fn at_start(&self) -> bool {
        self.query().is_empty()
    }
}

/// A row of the window: the host's result and the row (None: rows too large to show).
struct Line<'a> {
    result: &'a CampaignResult,
    row: Option<&'a Map<String, Value>>,
}

/// Rows a result takes in the window: its rows, or one line saying they are left out.
fn units(result: &CampaignResult) -> usize {
    if result.rows_omitted {
        1
    } else {
        result.rows.len()
    }
}

fn cell_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn cell(value: Option<&Value>) -> Markup {
    let text = cell_text(value);
    match text.char_indices().nth(CELL_CHARS) {
        None => html! { (text) },
        Some((cut, _)) => html! {
            (&text[..cut]) "… "
            span class="muted" { "(cut: " (text.chars().count()) " characters, the export has it whole)" }
        },
    }
}

/// The window at `position`, and the position of the next one (None: the last so far).
pub async fn render(
    app: &App,
    campaign_id: u64,
    position: &Position,
    visible: &TeamFilter,
) -> ApiResult<(Markup, Option<Position>)> {
    let skip = position.skip()?;
    let page =
        campaigns::results_page(app, campaign_id, position.after()?, WINDOW_ROWS, visible).await?;
    let results = &page.results;
    let mut lines: Vec<Line> = Vec::new();
    let mut next = None;
    let mut full = false;
    for (k, result) in results.iter().enumerate() {
        let start = match skip {
            Some((host, rows)) if k == 0 && host == result.host_id => rows,
            _ => 0,
        };
        let total = units(result);
        if start >= total {
            continue;
        }
        let n = (total - start).min(WINDOW_ROWS - lines.len());
        if result.rows_omitted {
            lines.push(Line { result, row: None });
        } else {
            lines.extend(result.rows[start..start + n].iter().map(|row| Line {
                result,
                row: Some(row),
            }));
        }
        if start + n < total {
            // The window ends inside this host's rows.
            let after = if start > 0 {
                position.after.clone()
            } else {
                match k.checked_sub(1).and_then(|prev| results.get(prev)) {
                    Some(prev) => Some(campaigns::results_cursor_after(prev.host_id)),
                    None => position.after.clone(),
                }
            };
            next = Some(Position {
                after,
                skip: Some(format!("{}-{}", result.host_id, start + n)),
                notice: None,
            });
            full = true;
            break;
        }
        if lines.len() >= WINDOW_ROWS {
            if k + 1 < results.len() || page.next_cursor.is_some() {
                next = Some(Position {
                    after: Some(campaigns::results_cursor_after(result.host_id)),
                    skip: None,
                    notice: None,
                });
            }
            full = true;
            break;
        }
    }
    if !full {
        next = page.next_cursor.clone().map(|after| Position {
            after: Some(after),
            skip: None,
            notice: None,
        });
    }
    let mut columns: Vec<&str> = Vec::new();
    for line in &lines {
        for key in line.row.into_iter().flat_map(|row| row.keys()) {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let markup = html! {
        @if lines.is_empty() {
            p class="muted" {
                @if position.at_start() { "No rows yet." } @else { "No more rows so far." }
            }
        } @else {
            div class="table-wrap" {
                table class="results" {
                    caption class="visually-hidden" { "Result rows" }
                    thead {
                        tr {
                            th scope="col" { "Host" }
                            @for column in &columns {
                                th scope="col" { (column) }
                            }
                        }
                    }
                    tbody {
                        @for line in &lines {
                            tr {
                                th scope="row" { (line.result.hostname) }
                                @match line.row {
                                    Some(row) => {
                                        @for column in &columns {
                                            td { (cell(row.get(*column))) }
                                        }
                                    },
                                    None => td colspan=(columns.len().max(1)) class="muted" {
                                        "This host's rows are too large to show here: the export has them."
                                    },
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok((markup, next))
}
