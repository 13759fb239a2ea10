//! What a person does with their own account, whatever asks (the JSON API or the admin UI's
//! forms): sign in with a password, sign out, change the password, create the first admin.
//! Each records itself in the activity log.

use serde_json::json;

use super::audit::{self, actor_of};
use super::login::{self, LoginOutcome};
use super::principal::Principal;
use super::roles::Role;
use super::sessions::{self, CredentialKind, NewCredential};
use super::users::{self, NewUser, User};
use super::{passwords, setup, sso_settings};
use crate::app::AppInner;
use crate::domain::activities::Actor;
use crate::domain::app_config::{self, AppConfigPatch, OrgInfoPatch};
use crate::error::ApiError;

/// A password sign-in: the user and their new session, or why not (401 for a wrong pair,
/// whichever half is wrong; 429 past the limits; 403 when single sign-on is required).
pub async fn sign_in(
    app: &AppInner,
    email: &str,
    password: &str,
    source_ip: &str,
) -> Result<(User, NewCredential), ApiError> {
    if sso_settings::load(app.state()).await?.sso_required {
        return Err(ApiError::Forbidden(
            "single sign-on is required: sign in with SSO".into(),
        ));
    }
    match login::password_login(app, email, password, source_ip).await? {
        LoginOutcome::LoggedIn { user, session } => {
            audit::record(app, actor_of(&user), "user_logged_in", json!({}), source_ip).await?;
            Ok((*user, session))
        }
        LoginOutcome::Failed => {
            let email: String = email.trim().chars().take(254).collect();
            audit::record(
                app,
                Actor::Anonymous,
                "user_failed_login",
                json!({"email": email}),
                source_ip,
            )
            .await?;
            Err(ApiError::AuthenticationFailed)
        }
        LoginOutcome::Limited { retry_after } => Err(ApiError::TooManyRequests { retry_after }),
    }
}

/// Ends the principal's session (nothing for a bearer API token or the break-glass token).
pub async fn sign_out(
    app: &AppInner,
    principal: &Principal,
    source_ip: &str,
) -> Result<(), ApiError> {
    if let (Some(user), Some(hash)) = (&principal.user, principal.session_hash()) {
        sessions::end(app.state(), user.id, hash).await?;
        audit::record(app, actor_of(user), "user_logged_out", json!({}), source_ip).await?;
    }
    Ok(())
}

/// A new token for the principal's own scripts and fleetctl, as Fleet's "Get API token" gives:
/// a session of its own (the same lifetime and idle limit as a sign-in; signing out
/// everywhere or a password change ends it), shown once. A person's token expires, unlike an
/// API-only user's: those are for automation that must not lapse. 403 for the break-glass
/// token, which has no account.
pub async fn new_api_token(
    app: &AppInner,
    principal: &Principal,
    source_ip: &str,
) -> Result<NewCredential, ApiError> {
    let user = principal.user.as_ref().ok_or_else(|| {
        ApiError::Forbidden("the break-glass token has no account to make a token for".into())
    })?;
    let credential = sessions::start(app, user.id, app.clock.now().timestamp()).await?;
    audit::record(
        app,
        actor_of(user),
        "created_api_token",
        json!({}),
        source_ip,
    )
    .await?;
    Ok(credential)
}

/// Changes the principal's own password after checking the old one, and ends their other
/// sessions; this one goes on.
pub async fn change_password(
    app: &AppInner,
    principal: &Principal,
    old_password: String,
    new_password: String,
    source_ip: &str,
) -> Result<(), ApiError> {
    let Some(current) = &principal.user else {
        return Err(ApiError::bad_request(
            "the break-glass token has no password",
        ));
    };
    let (user, version) = users::require(app.state(), current.id).await?;
    let Some(stored) = user.password_hash.clone() else {
        return Err(ApiError::bad_request(
            "this account signs in with single sign-on and has no password",
        ));
    };
    let matched = tokio::task::spawn_blocking(move || passwords::verify(&old_password, &stored))
        .await
        .map_err(|e| ApiError::Internal(format!("password check: {e}")))?;
    if !matched {
        return Err(ApiError::Forbidden("old password does not match".into()));
    }
    let hash = tokio::task::spawn_blocking(move || users::hash_password(&new_password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hash: {e}")))??;
    let updated = User {
        password_hash: Some(hash),
        force_password_reset: false,
        ..user.clone()
    };
    save(app, &user, version, updated).await?;
    sessions::end_all(
        app.state(),
        user.id,
        Some(CredentialKind::Session),
        principal.session_hash(),
    )
    .await?;
    audit::record(
        app,
        actor_of(&user),
        "changed_password",
        json!({}),
        source_ip,
    )
    .await?;
    Ok(())
}

/// Stores a change to a user read at `version`, stamped now; this instance forgets its cached
/// copy at once (others within the user cache's lifetime).
pub async fn save(
    app: &AppInner,
    before: &User,
    version: u64,
    mut after: User,
) -> Result<User, ApiError> {
    after.updated_at = app.clock.now();
    users::replace(app.state(), before, version, &after).await?;
    app.identity.users.forget(after.id);
    Ok(after)
}

/// The first admin account.
pub struct FirstAdmin {
    pub name: String,
    pub email: String,
    pub password: String,
    pub org_name: Option<String>,
}

/// Creates the first admin with the one-time setup token (or the break-glass token) and signs
/// them in; names the organization when asked.
pub async fn set_up(
    app: &AppInner,
    presented_token: &str,
    admin: FirstAdmin,
    source_ip: &str,
) -> Result<(User, NewCredential), ApiError> {
    let new = NewUser {
        name: admin.name,
        email: admin.email,
        password: Some(admin.password),
        global_role: Some(Role::Admin),
        teams: Vec::new(),
        api_only: false,
        sso_enabled: false,
    };
    let (user, session) = setup::set_up(app, presented_token, new).await?;
    if let Some(org_name) = admin.org_name.filter(|n| !n.trim().is_empty()) {
        let patch = AppConfigPatch {
            org_info: Some(OrgInfoPatch {
                org_name: Some(org_name),
                ..OrgInfoPatch::default()
            }),
            ..AppConfigPatch::default()
        };
        app_config::patch(app.state(), patch).await?;
    }
    audit::record(
        app,
        actor_of(&user),
        "setup",
        json!({"user_id": user.id}),
        source_ip,
    )
    .await?;
    Ok((user, session))
}
