//! Sessions and API tokens: 32 random bytes handed out once, stored only as SHA-256.
//!
//! One item per credential (`SESSION#<hash>`) answers a check with one read; an index entry
//! in the user's partition (`USER#<id>` / `SESSION#<hash>`) lets logout, a password change or
//! a deletion end all of a user's sessions. Sessions expire after an idle time and an absolute
//! lifetime; API tokens after their own expiry (or never, when asked for explicitly).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::credentials::{random_token, sha256_hex};
use crate::domain::layout;
use crate::ports::state::query_all;
use crate::ports::{Cond, Item, Query, StateStore, StoreError, WriteOp};

/// Last-use times are written at most this often, so a busy session costs one read per
/// request, not a read and a write; the idle timeout is exact to within this.
pub const TOUCH_INTERVAL_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A login: password or single sign-on; works as a bearer token and as the cookie.
    Session,
    /// An API-only user's token.
    ApiToken,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: u64,
    pub kind: CredentialKind,
    pub created_at: i64,
    pub last_used_at: i64,
    /// The absolute end (sessions: the lifetime; tokens: their expiry, None for "never").
    pub expires_at: Option<i64>,
}

/// Session lifetimes, configurable per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_secs: i64,
    pub lifetime_secs: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_secs: 8 * 3600,
            lifetime_secs: 7 * 24 * 3600,
        }
    }
}

/// A credential: shown to its owner once, then only its hash exists.
pub struct NewCredential {
    pub token: String,
    pub hash: String,
    pub record: SessionRecord,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential")
            .field("hash", &self.hash)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

pub fn hash_token(token: &str) -> String {
    sha256_hex(token)
}

impl SessionRecord {
    /// Still valid at `now` under `policy`.
    pub fn valid_at(&self, now: i64, policy: &SessionPolicy) -> bool {
        let within_lifetime = self.expires_at.is_none_or(|end| now < end);
        let active = match self.kind {
            CredentialKind::Session => now < self.last_used_at + policy.idle_secs,
            CredentialKind::ApiToken => true,
        };
        within_lifetime && active
    }
}

/// A new session or token for `user_id`: the writes (the user must still exist) and the token.
pub fn issue(
    user_id: u64,
    kind: CredentialKind,
    now: i64,
    expires_at: Option<i64>,
) -> Result<(NewCredential, Vec<WriteOp>), StoreError> {
    let token = random_token();
    let hash = hash_token(&token);
    let record = SessionRecord {
        user_id,
        kind,
        created_at: now,
        last_used_at: now,
        expires_at,
    };
    let mut session = Item::encode(layout::session(&hash), &record)?;
    let mut index = Item::new(
        layout::user_session(user_id, &hash),
        json!({ "kind": kind, "expires_at": expires_at }),
    );
    if let Some(end) = expires_at {
        session = session.with_expiry(end);
        index = index.with_expiry(end);
    }
    let ops = vec![
        WriteOp::Check {
            key: layout::user(user_id),
            cond: Cond::Exists,
        },
        WriteOp::Put {
            item: session,
            cond: Cond::NotExists,
        },
        WriteOp::Put {
            item: index,
            cond: Cond::NotExists,
        },
    ];
    Ok((
        NewCredential {
            token,
            hash,
            record,
        },
        ops,
    ))
}

/// Stores a new session (`policy`'s lifetime) or token; `ConditionFailed` if the user is gone.
pub async fn create(
    store: &dyn StateStore,
    user_id: u64,
    kind: CredentialKind,
    now: i64,
    expires_at: Option<i64>,
) -> Result<NewCredential, StoreError> {
    let (credential, ops) = issue(user_id, kind, now, expires_at)?;
    store.write(ops).await?;
    Ok(credential)
}

/// A new sign-in session for the user, for the deployment's session lifetime from `now`.
pub async fn start(
    app: &crate::app::AppInner,
    user_id: u64,
    now: i64,
) -> Result<NewCredential, StoreError> {
    let lifetime = app.settings.identity.sessions.lifetime_secs;
    create(
        app.state(),
        user_id,
        CredentialKind::Session,
        now,
        Some(now + lifetime),
    )
    .await
}

/// The valid credential behind `token` (one read), refreshing its last use now and then.
pub async fn check(
    store: &dyn StateStore,
    token: &str,
    now: i64,
    policy: &SessionPolicy,
) -> Result<Option<(String, SessionRecord)>, StoreError> {
    // Tokens we issue are 43 characters; anything far longer is not one of ours.
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    let hash = hash_token(token);
    let Some(item) = store.get(&layout::session(&hash)).await? else {
        return Ok(None);
    };
    let record: SessionRecord = item.decode()?;
    if !record.valid_at(now, policy) {
        return Ok(None);
    }
    if record.kind == CredentialKind::Session && now - record.last_used_at >= TOUCH_INTERVAL_SECS {
        let mut touched = record.clone();
        touched.last_used_at = now;
        let mut updated = Item::encode(item.key.clone(), &touched)?;
        updated.expires_at = item.expires_at;
        // Under the version read: a logout meanwhile is not undone. A lost race costs nothing.
        match store
            .write(vec![WriteOp::Put {
                item: updated,
                cond: Cond::Version(item.version),
            }])
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(Some((hash, record)))
}

/// Ends one credential by its hash.
pub async fn end(store: &dyn StateStore, user_id: u64, hash: &str) -> Result<(), StoreError> {
    store
        .write(vec![
            WriteOp::Delete {
                key: layout::session(hash),
                cond: Cond::None,
            },
            WriteOp::Delete {
                key: layout::user_session(user_id, hash),
                cond: Cond::None,
            },
        ])
        .await
}

/// Ends the user's credentials of `kind` (all kinds when None), but `keep`.
pub async fn end_all(
    store: &dyn StateStore,
    user_id: u64,
    kind: Option<CredentialKind>,
    keep: Option<&str>,
) -> Result<usize, StoreError> {
    let entries = query_all(
        store,
        Query::partition(layout::user_partition(user_id)).prefix("SESSION#"),
    )
    .await?;
    let mut ended = 0;
    for entry in entries {
        let Some(hash) = entry.key.sk.strip_prefix("SESSION#") else {
            continue;
        };
        let entry_kind: Option<CredentialKind> = entry
            .data
            .get("kind")
            .and_then(|k| serde_json::from_value(k.clone()).ok());
        if keep == Some(hash) || kind.is_some_and(|wanted| entry_kind != Some(wanted)) {
            continue;
        }
        end(store, user_id, hash).await?;
        ended += 1;
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_idle_and_absolute() {
        let policy = SessionPolicy {
            idle_secs: 100,
            lifetime_secs: 1000,
        };
        let record = SessionRecord {
            user_id: 1,
            kind: CredentialKind::Session,
            created_at: 0,
            last_used_at: 0,
            expires_at: Some(1000),
        };
        assert!(record.valid_at(99, &policy));
        assert!(!record.valid_at(100, &policy), "idle");
        let busy = SessionRecord {
            last_used_at: 950,
            ..record.clone()
        };
        assert!(busy.valid_at(999, &policy));
        assert!(!busy.valid_at(1000, &policy), "absolute");
        let token = SessionRecord {
            kind: CredentialKind::ApiToken,
            expires_at: None,
            ..record
        };
        assert!(token.valid_at(10_000_000, &policy), "never expires");
    }

    #[test]
    fn tokens_are_32_random_bytes_and_hashed() {
        let (a, ops) = issue(7, CredentialKind::Session, 0, Some(10)).expect("issue");
        let (b, _) = issue(7, CredentialKind::Session, 0, Some(10)).expect("issue");
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 43);
        assert_eq!(a.hash, sha256_hex(&a.token));
        let written = format!("{ops:?}");
        assert!(
            !written.contains(&a.token),
            "the token itself is never stored"
        );
        assert!(!format!("{a:?}").contains(&a.token));
    }
}
