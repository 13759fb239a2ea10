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
use super::{enroll_secrets, hosts::Host, layout, live};
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::state::query_all;
use crate::ports::{Cond, Item, Query, StateStore, StoreError, WriteOp};

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
    move_hosts_out(store, id).await?;
    // Cached node-key entries carry the team: the epoch makes every instance drop them within
    // 2 s, so the hosts get the global config and live queries see them teamless. Bumped even
    // when no host moved now: a failed earlier attempt may have moved them and stopped here.
    live::bump_epoch(app).await?;
    delete_team_item(store, id).await?;
    Ok(team)
}

/// Marks the team `deleting` (already marked by a failed earlier attempt: kept as is).
async fn mark_deleting(store: &dyn StateStore, id: u64) -> Result<Team, ApiError> {
    for _ in 0..ATTEMPTS {
        let (mut team, version) = teams::get_stored(store, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("team {id} not found")))?;
        if team.deleting {
            return Ok(team);
        }
        team.deleting = true;
        let item = Item::encode(layout::team(id), &team)?.with_gsi1(layout::teams_index(id));
        match store
            .write(vec![WriteOp::Put {
                item,
                cond: Cond::Version(version),
            }])
            .await
        {
            Ok(()) => return Ok(team),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(kept_changing(&format!("team {id}")))
}

fn kept_changing(what: &str) -> ApiError {
    ApiError::Unavailable(format!("{what} kept changing, retry"))
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
        if remove_role(store, now, listed.id, id).await? {
            changed.push(listed.id);
        }
    }
    Ok(changed)
}

async fn remove_role(
    store: &dyn StateStore,
    now: chrono::DateTime<chrono::Utc>,
    user_id: u64,
    team_id: u64,
) -> Result<bool, ApiError> {
    for _ in 0..ATTEMPTS {
        // Deleted meanwhile, or the role already gone: nothing to do.
        let Some((user, version)) = users::get(store, user_id).await? else {
            return Ok(false);
        };
        if !user.teams.iter().any(|t| t.id == team_id) {
            return Ok(false);
        }
        let updated = User {
            teams: user
                .teams
                .iter()
                .copied()
                .filter(|t| t.id != team_id)
                .collect(),
            updated_at: now,
            ..user
        };
        let item =
            Item::encode(layout::user(user_id), &updated)?.with_gsi1(layout::users_index(user_id));
        match store
            .write(vec![WriteOp::Put {
                item,
                cond: Cond::Version(version),
            }])
            .await
        {
            Ok(()) => return Ok(true),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(kept_changing(&format!("user {user_id}")))
}

/// Moves the team's hosts to no team. The hosts are found by reading the whole host index and
/// every host item (100 at a time): fine at today's fleet sizes, for a rare admin action; a
/// per-team host index replaces this when fleets grow.
async fn move_hosts_out(store: &dyn StateStore, id: u64) -> Result<(), ApiError> {
    let keys: Vec<_> = query_all(store, Query::gsi1("HOSTS"))
        .await?
        .into_iter()
        .map(|entry| entry.key)
        .collect();
    for chunk in keys.chunks(100) {
        for item in store.batch_get(chunk).await? {
            let host: Host = item.decode()?;
            if host.team_id == Some(id) {
                move_host_out(store, host.id, id, item).await?;
            }
        }
    }
    Ok(())
}

/// One host to no team under its version; a conflict (the host re-enrolled meanwhile) reads
/// it again.
async fn move_host_out(
    store: &dyn StateStore,
    host_id: u64,
    team_id: u64,
    first_read: Item,
) -> Result<(), ApiError> {
    let mut current = Some(first_read);
    for _ in 0..ATTEMPTS {
        let Some(item) = current.take() else {
            return Ok(());
        };
        let mut host: Host = item.decode()?;
        if host.team_id != Some(team_id) {
            return Ok(());
        }
        host.team_id = None;
        let next =
            Item::encode(layout::host(host_id), &host)?.with_gsi1(layout::hosts_index(host_id));
        match store
            .write(vec![WriteOp::Put {
                item: next,
                cond: Cond::Version(item.version),
            }])
            .await
        {
            Ok(()) => return Ok(()),
            Err(StoreError::ConditionFailed) => {
                current = store.get(&layout::host(host_id)).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(kept_changing(&format!("host {host_id}")))
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
    Err(kept_changing(&format!("team {id}")))
}
