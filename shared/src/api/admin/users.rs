//! Users: `GET /api/v1/fleet/users`, `POST /api/v1/fleet/users/admin`,
//! `GET/PATCH/DELETE /api/v1/fleet/users/{id}`, `POST .../require_password_reset` and
//! `POST .../api_token` (rotate an API-only user's token). Global admins only (the route table).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::account::user_json;
use super::Id;
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::Role;
use crate::domain::identity::sessions::{self, CredentialKind};
use crate::domain::identity::users::{self, NewUser, TeamRole, User};
use crate::domain::identity::{account, audit};
use crate::error::{ApiError, ApiResult};
use crate::ports::StoreError;

pub async fn list(State(app): State<App>, _: Principal) -> ApiResult<Json<Value>> {
    let names = users::team_names(app.state()).await?;
    let all: Vec<Value> = users::list(app.state())
        .await?
        .iter()
        .map(|u| u.to_json(&names))
        .collect();
    Ok(Json(json!({ "users": all })))
}

pub async fn get(State(app): State<App>, _: Principal, Id(id): Id) -> ApiResult<Json<Value>> {
    let (user, _) = users::require(app.state(), id).await?;
    Ok(Json(json!({ "user": user_json(&app, &user).await? })))
}

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

/// Issues a new API token for `user`, ending the ones it had.
async fn issue_api_token(
    app: &App,
    user: &User,
    expiry: Option<TokenExpiry>,
) -> ApiResult<(String, Option<i64>)> {
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
    Ok((credential.token, expires_at))
}

/// Refuses to leave the deployment without a global admin account (the break-glass token is
/// for emergencies, not for running it).
async fn keep_an_admin(app: &App, before: &User, after: Option<&User>) -> ApiResult<()> {
    let was_admin = before.global_role == Some(Role::Admin);
    let stays_admin = after.is_some_and(|u| u.global_role == Some(Role::Admin));
    if !was_admin || stays_admin {
        return Ok(());
    }
    let others = users::list(app.state())
        .await?
        .iter()
        .filter(|u| u.id != before.id && u.global_role == Some(Role::Admin) && !u.api_only)
        .count();
    if others == 0 {
        return Err(ApiError::Conflict(
            "this is the last global admin: make another user admin first".into(),
        ));
    }
    Ok(())
}

fn expiry_json(expires_at: Option<i64>) -> Value {
    expires_at
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or(json!("never"), |t| json!(t.to_rfc3339()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    name: String,
    email: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    global_role: Option<Role>,
    #[serde(default)]
    teams: Vec<TeamRole>,
    #[serde(default)]
    api_only: bool,
    #[serde(default)]
    sso_enabled: bool,
    #[serde(default)]
    api_token_expiration: Option<TokenExpiry>,
}

pub async fn create(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: CreateUser = parse(body)?;
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
    let mut answer = json!({ "user": user_json(&app, &user).await? });
    if user.api_only {
        let (token, expires_at) =
            issue_api_token(&app, &user, request.api_token_expiration).await?;
        answer["token"] = json!(token);
        answer["token_expires_at"] = expiry_json(expires_at);
    }
    audit::record(
        &app,
        principal.actor(),
        "created_user",
        json!({"user_id": user.id, "user_email": user.email, "global_role": user.global_role, "teams": user.teams}),
        &ip,
    )
    .await?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// `null` clears it (the user then needs teams).
    #[serde(default, deserialize_with = "present")]
    global_role: Option<Option<Role>>,
    #[serde(default)]
    teams: Option<Vec<TeamRole>>,
    #[serde(default)]
    sso_enabled: Option<bool>,
}

/// Tells an absent field from an explicit `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

pub async fn patch(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: PatchUser = parse(body)?;
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
    keep_an_admin(&app, &user, Some(&updated)).await?;
    let updated = account::save(&app, &user, version, updated).await?;
    if updated.roles() != user.roles() {
        audit::record(
            &app,
            principal.actor(),
            "changed_user_role",
            json!({"user_id": id, "user_email": updated.email, "global_role": updated.global_role, "teams": updated.teams}),
            &ip,
        )
        .await?;
    } else {
        audit::record(
            &app,
            principal.actor(),
            "edited_user",
            json!({"user_id": id}),
            &ip,
        )
        .await?;
    }
    Ok(Json(json!({ "user": user_json(&app, &updated).await? })))
}

pub async fn delete(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let (user, _) = users::require(app.state(), id).await?;
    keep_an_admin(&app, &user, None).await?;
    sessions::end_all(app.state(), id, None, None).await?;
    users::delete(app.state(), &user).await?;
    app.identity.users.forget(id);
    audit::record(
        &app,
        principal.actor(),
        "deleted_user",
        json!({"user_id": id, "user_email": user.email}),
        &ip,
    )
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequireReset {
    require: bool,
}

/// Sets or clears the reset flag; setting it ends the user's sessions.
pub async fn require_password_reset(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: RequireReset = parse(body)?;
    let (user, version) = users::require(app.state(), id).await?;
    let updated = User {
        force_password_reset: request.require,
        ..user.clone()
    };
    let updated = account::save(&app, &user, version, updated).await?;
    if request.require {
        sessions::end_all(app.state(), id, Some(CredentialKind::Session), None).await?;
    }
    audit::record(
        &app,
        principal.actor(),
        "required_password_reset",
        json!({"user_id": id, "require": request.require}),
        &ip,
    )
    .await?;
    Ok(Json(json!({ "user": user_json(&app, &updated).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateToken {
    #[serde(default)]
    api_token_expiration: Option<TokenExpiry>,
}

/// A new token for an API-only user; the old one stops working at once.
pub async fn rotate_api_token(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: RotateToken = parse(body)?;
    let (user, _) = users::require(app.state(), id).await?;
    if !user.api_only {
        return Err(ApiError::bad_request(
            "only API-only users have API tokens; others sign in",
        ));
    }
    let (token, expires_at) = issue_api_token(&app, &user, request.api_token_expiration).await?;
    audit::record(
        &app,
        principal.actor(),
        "rotated_api_token",
        json!({"user_id": id}),
        &ip,
    )
    .await?;
    Ok(Json(
        json!({ "token": token, "token_expires_at": expiry_json(expires_at) }),
    ))
}
