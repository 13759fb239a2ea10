//! The first admin. `POST /api/v1/setup` works once, while no user exists, and only with a
//! credential that proves access to the deployment: the one-time setup token `flotilla-local`
//! prints at its first start, or the break-glass admin token (Secrets Manager on AWS). Fleet's
//! setup needs no credential; here that would hand a fresh deployment to whoever finds its URL
//! first.

use serde_json::json;

use super::principal;
use super::sessions::{self, CredentialKind, NewCredential};
use super::users::{self, NewUser, User};
use crate::app::AppInner;
use crate::domain::credentials::{constant_time_eq, random_token, sha256_hex};
use crate::domain::layout;
use crate::error::ApiError;
use crate::ports::state::put;
use crate::ports::{Cond, Item, StateStore, StoreError, WriteOp};

/// Whether the first admin exists.
pub async fn is_done(store: &dyn StateStore) -> Result<bool, StoreError> {
    Ok(store.get(&layout::setup_done()).await?.is_some())
}

/// A fresh one-time setup token while setup is not done (the previous one stops working);
/// None once it is.
pub async fn issue_setup_token(store: &dyn StateStore) -> Result<Option<String>, StoreError> {
    if is_done(store).await? {
        return Ok(None);
    }
    let token = random_token();
    put(
        store,
        Item::new(layout::setup_token(), json!({ "hash": sha256_hex(&token) })),
        Cond::None,
    )
    .await?;
    Ok(Some(token))
}

async fn may_set_up(app: &AppInner, presented: &str) -> Result<bool, ApiError> {
    if presented.is_empty() {
        return Ok(false);
    }
    if principal::is_break_glass(app, presented).await? {
        return Ok(true);
    }
    let stored = app.state().get(&layout::setup_token()).await?;
    Ok(stored
        .and_then(|item| {
            item.data
                .get("hash")
                .and_then(|h| h.as_str().map(str::to_owned))
        })
        .is_some_and(|hash| constant_time_eq(&sha256_hex(presented), &hash)))
}

/// Creates the first admin (global role `admin`) and a session for them, atomically with the
/// mark that setup is done.
pub async fn set_up(
    app: &AppInner,
    presented: &str,
    new: NewUser,
) -> Result<(User, NewCredential), ApiError> {
    let store = app.state();
    if is_done(store).await? {
        return Err(ApiError::Conflict("setup has already been done".into()));
    }
    if !may_set_up(app, presented).await? {
        return Err(ApiError::Unauthorized);
    }
    let now = app.clock.now();
    let id = users::next_id(store).await?;
    let user = users::build(new, id, now)?;
    let lifetime = app.settings.identity.sessions.lifetime_secs;
    let (session, session_ops) = sessions::issue(
        id,
        CredentialKind::Session,
        now.timestamp(),
        Some(now.timestamp() + lifetime),
    )?;
    let mut ops = users::create_ops(&user)?;
    ops.push(WriteOp::Put {
        item: Item::new(layout::setup_done(), json!({ "user_id": id, "at": now })),
        cond: Cond::NotExists,
    });
    ops.push(WriteOp::Delete {
        key: layout::setup_token(),
        cond: Cond::None,
    });
    // The session's check that the user exists would fail inside the transaction that creates
    // the user: its two puts only.
    ops.extend(
        session_ops
            .into_iter()
            .filter(|op| matches!(op, WriteOp::Put { .. })),
    );
    match store.write(ops).await {
        Ok(()) => Ok((user, session)),
        Err(StoreError::ConditionFailed) => {
            Err(ApiError::Conflict("setup has already been done".into()))
        }
        Err(other) => Err(other.into()),
    }
}
