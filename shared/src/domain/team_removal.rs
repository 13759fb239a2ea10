//! Deleting a team and everything that hangs off it, as Fleet does: its enroll secrets, its
//! saved queries, its users' roles on it; its hosts stay, in no team.
//!
//! No single transaction can hold all of that, so the steps run one after the other and each
//! is idempotent. The team item goes last: while it exists (marked `deleting`, so it is gone
//! for every other caller and nothing new attaches to it), a retry after a failure anywhere
//! finds it and runs every step again; once it is gone, every step before it has completed,
//! so a retry's 404 leaves nothing behind.

use super::identity::users::{self, User};
use super::scheduled_queries;
use super::teams::{self, Team};
use super::{enroll_secrets, host_index, layout, live, records};
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::{Cond, Query, StateStore, StoreError, WriteOp};

/// Read-modify-writes of one item before giving up with 503 (the caller retries the whole
/// deletion, which starts again where it failed).
const ATTEMPTS: usize = 5;

/// Deletes team `id` (404 when there is none) and answers it as it was.
pub async fn remove(app: &AppInner, id: u64) -> Result<Team, ApiError> {
    let store = app.state();
    let team = mark_deleting(store, id).await?;
    // Secrets first, so hosts stop joining the team before its hosts are moved out. An enroll
    // that read a secret just before and writes its host while the hosts are being moved can
    // still be missed (enroll does not re-check its secret when it writes).
    enroll_secrets::replace(store, app.clock.now(), Some(id), Vec::new()).await?;
    delete_queries(store, id).await?;
    for user_id in remove_roles(store, app.clock.now(), id).await? {
        // This instance's next request sees the change; others within the cache's 5 s.
        app.identity.users.forget(user_id);
    }
    move_hosts_out(store, app.clock.now(), id).await?;
    // Cached node-key entries carry the team: the epoch makes every instance drop them within
    // 2 s, so the hosts get the global config and live queries see them teamless. Bumped even
    // when no host moved now: a failed earlier attempt may have moved them and stopped here.
    live::bump_epoch(app).await?;
    delete_team_item(store, id).await?;
    Ok(team)
}

/// Marks the team `deleting` (already marked by a failed earlier attempt: kept as is).
async fn mark_deleting(store: &dyn StateStore, id: u64) -> Result<Team, ApiError> {
    let not_found = || ApiError::not_found(format!("team {id} not found"));
    records::update_if(
        store,
        &layout::team(id),
        Some(layout::teams_index(id)),
        |team: Option<Team>| {
            let mut team = team.ok_or_else(not_found)?;
            if team.deleting {
                return Ok(None);
            }
            team.deleting = true;
            Ok(Some(team))
        },
    )
    .await?
    .ok_or_else(not_found)
}

/// The team's saved queries (Cond::None: one already gone is fine).
async fn delete_queries(store: &dyn StateStore, id: u64) -> Result<(), ApiError> {
    let doomed: Vec<WriteOp> = scheduled_queries::list(store)
        .await?
        .into_iter()
        .filter(|q| q.team_id == Some(id))
        .map(|q| WriteOp::Delete {
            key: layout::scheduled_query(q.id),
            cond: Cond::None,
        })
        .collect();
    let mut doomed = doomed.into_iter().peekable();
    while doomed.peek().is_some() {
        // The port's limit per atomic write; atomicity across chunks is not needed.
        store.write(doomed.by_ref().take(100).collect()).await?;
    }
    Ok(())
}

/// Removes the team from every user's roles, each user under its version; answers whose.
/// A user left with no role keeps the account and reaches only their own account.
async fn remove_roles(
    store: &dyn StateStore,
    now: chrono::DateTime<chrono::Utc>,
    id: u64,
) -> Result<Vec<u64>, ApiError> {
    let mut changed = Vec::new();
    for listed in users::list(store).await? {
        if !listed.teams.iter().any(|t| t.id == id) {
            continue;
        }
        // Deleted meanwhile, or the role already gone: nothing to write.
        records::update_if(
            store,
            &layout::user(listed.id),
            Some(layout::users_index(listed.id)),
            |user: Option<User>| {
                Ok(user
                    .filter(|u| u.teams.iter().any(|t| t.id == id))
                    .map(|user| User {
                        teams: user.teams.iter().copied().filter(|t| t.id != id).collect(),
                        updated_at: now,
                        ..user
                    }))
            },
        )
        .await?;
        changed.push(listed.id);
    }
    Ok(changed)
}

/// Moves the team's hosts to no team: the team's partition of the listing index names
/// exactly them, so this reads only the team's hosts (not the fleet), 100 at a time.
async fn move_hosts_out(
    store: &dyn StateStore,
    now: chrono::DateTime<chrono::Utc>,
    id: u64,
) -> Result<(), ApiError> {
    let mut after = None;
    loop {
        let page = store
            .query(
                &Query::gsi1(layout::host_rows_of(&host_index::scope(Some(id))))
                    .prefix("I#")
                    .limit(100)
                    .after(after),
            )
            .await?;
        for entry in &page.items {
            let Some(host_id) = entry.key.sk.strip_prefix("I#").and_then(|s| s.parse().ok()) else {
                continue;
            };
            // Under its version: a host that re-enrolled meanwhile is read again; one that
            // left the team meanwhile stays where it is.
            host_index::retarget(store, now, host_id, None, |team| team == Some(id)).await?;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

/// The last step: the team item and its name claim, together.
async fn delete_team_item(store: &dyn StateStore, id: u64) -> Result<(), ApiError> {
    for _ in 0..ATTEMPTS {
        let Some((team, version)) = teams::get_stored(store, id).await? else {
            return Ok(());
        };
        // The claim of the team's current name is the team's: a rename moves it with the team.
        let ops = vec![
            WriteOp::Delete {
                key: layout::team(id),
                cond: Cond::Version(version),
            },
            WriteOp::Delete {
                key: layout::team_name(&team.name.to_lowercase()),
                cond: Cond::None,
            },
        ];
        match store.write(ops).await {
            Ok(()) => return Ok(()),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Unavailable(format!(
        "team {id} kept changing, retry"
    )))
}
