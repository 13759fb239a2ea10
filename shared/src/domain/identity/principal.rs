//! Who is asking: a user (through a session or an API token) or the break-glass admin token.
//! A check costs at most one store read on a warm instance: the credential's item (never
//! cached, so logout and revocation take effect at once everywhere); the user record comes
//! from a per-instance cache of `USER_CACHE_TTL`, so a role change reaches every instance
//! within that time.

use moka::sync::Cache;
use std::time::Duration;

use super::roles::{Permission, Role, Roles, Scope, TeamFilter};
use super::sessions::{self, CredentialKind, SessionPolicy};
use super::users::{self, User};
use crate::app::AppInner;
use crate::domain::credentials::constant_time_eq;
use crate::error::ApiError;

pub const USER_CACHE_TTL: Duration = Duration::from_secs(5);

/// Users by id, per instance.
pub struct UserCache(Cache<u64, User>);

impl Default for UserCache {
    fn default() -> Self {
        UserCache(
            Cache::builder()
                .max_capacity(10_000)
                .time_to_live(USER_CACHE_TTL)
                .build(),
        )
    }
}

impl UserCache {
    /// Forgets a user this instance changed, so its own next request sees the change.
    pub fn forget(&self, id: u64) {
        self.0.invalidate(&id);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A login; `hash` is the SHA-256 of the token.
    Session {
        hash: String,
    },
    ApiToken {
        hash: String,
    },
    /// The deployment's admin token: the admin role, no user.
    BreakGlass,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Option<User>,
    pub roles: Roles,
    pub credential: Credential,
}

impl Principal {
    pub fn break_glass() -> Principal {
        Principal {
            user: None,
            roles: Roles::global(Role::Admin),
            credential: Credential::BreakGlass,
        }
    }

    pub fn can(&self, permission: Permission, scope: Scope) -> bool {
        self.roles.can(permission, scope)
    }

    /// 403 unless the permission is granted on the scope.
    pub fn require(&self, permission: Permission, scope: Scope) -> Result<(), ApiError> {
        if self.can(permission, scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    pub fn teams_with(&self, permission: Permission) -> TeamFilter {
        self.roles.teams_with(permission)
    }

    pub fn user_id(&self) -> Option<u64> {
        self.user.as_ref().map(|u| u.id)
    }

    /// The hash of the session this request came with, if it is a login session.
    pub fn session_hash(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { hash } => Some(hash),
            _ => None,
        }
    }
}

/// Whether `token` is the deployment's break-glass admin token (Secrets Manager, cached).
pub async fn is_break_glass(app: &AppInner, token: &str) -> Result<bool, ApiError> {
    let admin_token = app
        .ports
        .secrets
        .get(&app.settings.admin_token_secret)
        .await?;
    Ok(!admin_token.is_empty() && constant_time_eq(token, &admin_token))
}

/// The principal behind a presented bearer token or session cookie; None when it is unknown,
/// expired or revoked (the caller answers 401 without saying which).
pub async fn authenticate(
    app: &AppInner,
    token: &str,
    now: i64,
) -> Result<Option<Principal>, ApiError> {
    // Sessions first: a secret store outage then only affects the break-glass token.
    let policy: SessionPolicy = app.settings.identity.sessions;
    let Some((hash, record)) = sessions::check(app.state(), token, now, &policy).await? else {
        return Ok(is_break_glass(app, token)
            .await?
            .then(Principal::break_glass));
    };
    let user = match app.identity.users.0.get(&record.user_id) {
        Some(user) => user,
        None => match users::get(app.state(), record.user_id).await? {
            Some((user, _)) => {
                app.identity.users.0.insert(user.id, user.clone());
                user
            }
            // Deleted meanwhile (its sessions are being ended).
            None => return Ok(None),
        },
    };
    let credential = match record.kind {
        CredentialKind::Session => Credential::Session { hash },
        CredentialKind::ApiToken => Credential::ApiToken { hash },
    };
    Ok(Some(Principal {
        roles: user.roles(),
        user: Some(user),
        credential,
    }))
}
