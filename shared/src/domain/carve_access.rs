//! Carves as admins see them (the API's and the UI's one path): listed and read only where the
//! principal may read carves of the host's team, downloadable once complete and unexpired.

use super::carves::{self, Carve};
use super::hosts;
use crate::app::AppInner;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, TeamFilter};
use crate::error::ApiError;

/// The carves the principal may read, oldest first; expired ones only when asked (Fleet lists
/// only unexpired carves by default).
pub async fn visible(
    app: &AppInner,
    principal: &Principal,
    include_expired: bool,
) -> Result<Vec<Carve>, ApiError> {
    let now = app.clock.unix();
    let filter = principal.teams_with(Permission::ReadCarves);
    let mut shown = Vec::new();
    for carve in carves::list(app.state()).await? {
        if !include_expired && carve.expired(now) {
            continue;
        }
        if !hosts::visible_to(app.state(), &filter, carve.host_id).await? {
            continue;
        }
        shown.push(carve);
    }
    Ok(shown)
}

/// The carve, if the principal may read its host's carves (404 for none, 403 outside).
pub async fn find(app: &AppInner, principal: &Principal, id: u64) -> Result<Carve, ApiError> {
    let carve = carves::get(app.state(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("carve {id} not found")))?;
    if principal.teams_with(Permission::ReadCarves) != TeamFilter::All {
        hosts::require_access(
            app.state(),
            principal,
            Permission::ReadCarves,
            carve.host_id,
        )
        .await?;
    }
    Ok(carve)
}

/// Whether the carve's file can be downloaded now: 410 once expired, 409 until assembled.
pub fn require_downloadable(carve: &Carve, now: i64) -> Result<(), ApiError> {
    let id = carve.id;
    if carve.expired(now) {
        return Err(ApiError::Gone(format!("carve {id} has expired")));
    }
    if carve.completed_at.is_none() {
        return Err(ApiError::Conflict(format!(
            "carve {id} is not complete: {} of {} blocks received{}",
            carve.max_block + 1,
            carve.block_count,
            if carve.received_all() {
                ", being assembled"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// The file name a carve downloads as.
pub fn file_name(carve: &Carve) -> String {
    format!("carve-{}.tar", carve.id)
}
