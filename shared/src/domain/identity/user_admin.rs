//! What an admin does to other people's accounts, whatever asks (the JSON API or the admin
//! UI's forms): create a user (and an API-only user's first token), change their name, email
//! and roles, require a password reset, issue a new API token, delete. Each records itself in
//! the activity log. The deployment always keeps a global admin who signs in (`keep_an_admin`).

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::account;
use super::audit::{self, ActedBy};
use super::roles::Role;
use super::sessions::{self, CredentialKind};
use super::users::{self, NewUser, TeamRole, User};
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::StoreError;

/// How long an API token lasts: a number of days, or `"never"` said explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenExpiry {
    Days(u32),
    Never,
}

impl<'de> Deserialize<'de> for TokenExpiry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) if s == "never" => Ok(TokenExpiry::Never),
            Value::Number(n) => match n.as_u64() {
                Some(days @ 1..=3650) => Ok(TokenExpiry::Days(days as u32)),
                _ => Err(serde::de::Error::custom(
                    "api_token_expiration must be 1 to 3650 days or \"never\"",
                )),
            },
            _ => Err(serde::de::Error::custom(
                "api_token_expiration must be a number of days or \"never\"",
            )),
        }
    }
}

/// An API token just issued: shown once to whoever asked, never stored in clear.
pub struct IssuedToken {
    pub token: String,
    /// Unix seconds; None: it does not expire.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A user to create, as asked (Fleet's `POST /users/admin` body).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub global_role: Option<Role>,
    #[serde(default)]
    pub teams: Vec<TeamRole>,
    #[serde(default)]
    pub api_only: bool,
    #[serde(default)]
    pub sso_enabled: bool,
    #[serde(default)]
    pub api_token_expiration: Option<TokenExpiry>,
}

/// Creates a user; an API-only user gets its first token.
pub async fn create(
    app: &AppInner,
    by: &ActedBy<'_>,
    request: CreateUser,
) -> Result<(User, Option<IssuedToken>), ApiError> {
    users::check_roles(app.state(), request.global_role, &request.teams).await?;
    if request.sso_enabled && request.password.is_some() {
        return Err(ApiError::bad_request("an SSO user has no password"));
    }
    if !request.sso_enabled && !request.api_only && request.password.is_none() {
        return Err(ApiError::bad_request("password is required"));
    }
    users::normalize_email(&request.email)?;
    let new = NewUser {
        name: request.name,
        email: request.email,
        password: request.password,
        global_role: request.global_role,
        teams: request.teams,
        api_only: request.api_only,
        sso_enabled: request.sso_enabled,
    };
    let id = users::next_id(app.state()).await?;
    let user = tokio::task::spawn_blocking({
        let now = app.clock.now();
        move || users::build(new, id, now)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("user: {e}")))??;
    users::create(app.state(), &user).await?;
    let token = if user.api_only {
        Some(issue_api_token(app, &user, request.api_token_expiration).await?)
    } else {
        None
    };
    audit::record(
        app,
        by.actor.clone(),
        "created_user",
        json!({"user_id": user.id, "user_email": user.email, "global_role": user.global_role, "teams": user.teams}),
        by.source_ip,
    )
    .await?;
    Ok((user, token))
}

/// A change to a user (Fleet's `PATCH /users/{id}` body); absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Some(None) (`null`) clears it (the user then needs teams).
    #[serde(default, deserialize_with = "present")]
    pub global_role: Option<Option<Role>>,
    #[serde(default)]
    pub teams: Option<Vec<TeamRole>>,
    #[serde(default)]
    pub sso_enabled: Option<bool>,
}

/// Tells an absent field from an explicit `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Changes a user: a global role replaces team roles and the other way round.
pub async fn patch(
    app: &AppInner,
    by: &ActedBy<'_>,
    id: u64,
    request: UserPatch,
) -> Result<User, ApiError> {
    let (user, version) = users::require(app.state(), id).await?;
    let mut updated = user.clone();
    if let Some(name) = request.name {
        updated.name = users::check_name(&name)?;
    }
    if let Some(email) = request.email {
        updated.email = users::normalize_email(&email)?;
    }
    if let Some(global_role) = request.global_role {
        updated.global_role = global_role;
        if global_role.is_some() && request.teams.is_none() {
            updated.teams.clear();
        }
    }
    if let Some(teams) = request.teams {
        updated.teams = teams;
        if !updated.teams.is_empty() && request.global_role.is_none() {
            updated.global_role = None;
        }
    }
    if let Some(sso) = request.sso_enabled {
        updated.sso_enabled = sso;
        if sso {
            updated.password_hash = None;
        }
    }
    users::check_roles(app.state(), updated.global_role, &updated.teams).await?;
    keep_an_admin(app, &user, Some(&updated)).await?;
    let updated = account::save(app, &user, version, updated).await?;
    if updated.roles() != user.roles() {
        audit::record(
            app,
            by.actor.clone(),
            "changed_user_role",
            json!({"user_id": id, "user_email": updated.email, "global_role": updated.global_role, "teams": updated.teams}),
            by.source_ip,
        )
        .await?;
    } else {
        audit::record(
            app,
            by.actor.clone(),
            "edited_user",
            json!({"user_id": id}),
            by.source_ip,
        )
        .await?;
    }
    Ok(updated)
}

/// Deletes a user and ends their sessions and tokens.
pub async fn delete(app: &AppInner, by: &ActedBy<'_>, id: u64) -> Result<User, ApiError> {
    let (user, _) = users::require(app.state(), id).await?;
    keep_an_admin(app, &user, None).await?;
    sessions::end_all(app.state(), id, None, None).await?;
    users::delete(app.state(), &user).await?;
    app.identity.users.forget(id);
    audit::record(
        app,
        by.actor.clone(),
        "deleted_user",
        json!({"user_id": id, "user_email": user.email}),
        by.source_ip,
    )
    .await?;
    Ok(user)
}

/// Sets or clears the reset flag; setting it ends the user's sessions (their API tokens go
/// on: API-only users have no password).
pub async fn require_password_reset(
    app: &AppInner,
    by: &ActedBy<'_>,
    id: u64,
    require: bool,
) -> Result<User, ApiError> {
    let (user, version) = users::require(app.state(), id).await?;
    let updated = User {
        force_password_reset: require,
        ..user.clone()
    };
    let updated = account::save(app, &user, version, updated).await?;
    if require {
        sessions::end_all(app.state(), id, Some(CredentialKind::Session), None).await?;
    }
    audit::record(
        app,
        by.actor.clone(),
        "required_password_reset",
        json!({"user_id": id, "require": require}),
        by.source_ip,
    )
    .await?;
    Ok(updated)
}

/// A new token for an API-only user; the old one stops working at once.
pub async fn rotate_api_token(
    app: &AppInner,
    by: &ActedBy<'_>,
    id: u64,
    expiry: Option<TokenExpiry>,
) -> Result<IssuedToken, ApiError> {
    let (user, _) = users::require(app.state(), id).await?;
    if !user.api_only {
        return Err(ApiError::bad_request(
            "only API-only users have API tokens; others sign in",
        ));
    }
    let issued = issue_api_token(app, &user, expiry).await?;
    audit::record(
        app,
        by.actor.clone(),
        "rotated_api_token",
        json!({"user_id": id}),
        by.source_ip,
    )
    .await?;
    Ok(issued)
}

/// Issues a new API token for `user`, ending the ones it had.
async fn issue_api_token(
    app: &AppInner,
    user: &User,
    expiry: Option<TokenExpiry>,
) -> Result<IssuedToken, ApiError> {
    let now = app.clock.unix();
    let expires_at = match expiry.unwrap_or(TokenExpiry::Days(app.settings.identity.api_token_days))
    {
        TokenExpiry::Days(days) => Some(now + i64::from(days) * 86_400),
        TokenExpiry::Never => None,
    };
    sessions::end_all(app.state(), user.id, Some(CredentialKind::ApiToken), None).await?;
    let credential = sessions::create(
        app.state(),
        user.id,
        CredentialKind::ApiToken,
        now,
        expires_at,
    )
    .await
    .map_err(|e| match e {
        StoreError::ConditionFailed => ApiError::not_found(format!("user {} not found", user.id)),
        other => other.into(),
    })?;
    Ok(IssuedToken {
        token: credential.token,
        expires_at,
    })
}

/// Whether removing this user's global admin role would leave no global admin who signs in
/// (API-only admins do not count): such a user can be neither deleted nor demoted.
pub fn is_last_admin(user: &User, everyone: &[User]) -> bool {
    user.global_role == Some(Role::Admin)
        && !everyone
            .iter()
            .any(|u| u.id != user.id && u.global_role == Some(Role::Admin) && !u.api_only)
}

/// Refuses to leave the deployment without a global admin account (the break-glass token is
/// for emergencies, not for running it).
async fn keep_an_admin(
    app: &AppInner,
    before: &User,
    after: Option<&User>,
) -> Result<(), ApiError> {
    let stays_admin = after.is_some_and(|u| u.global_role == Some(Role::Admin));
    if before.global_role != Some(Role::Admin) || stays_admin {
        return Ok(());
    }
    if is_last_admin(before, &users::list(app.state()).await?) {
        return Err(ApiError::Conflict(
            "this is the last global admin: make another user admin first".into(),
        ));
    }
    Ok(())
}
