//! Users: `GET /api/v1/fleet/users`, `POST /api/v1/fleet/users/admin`,
//! `GET/PATCH/DELETE /api/v1/fleet/users/{id}`, `POST .../require_password_reset` and
//! `POST .../api_token` (rotate an API-only user's token). Global admins only (the route table).
//! The rules and records are `domain::identity::user_admin`'s; these shape Fleet's JSON.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::account::user_json;
use super::Id;
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::audit::ActedBy;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::user_admin::{self, CreateUser, TokenExpiry, UserPatch};
use crate::domain::identity::users;
use crate::error::ApiResult;

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

fn expiry_json(expires_at: Option<i64>) -> Value {
    expires_at
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or(json!("never"), |t| json!(t.to_rfc3339()))
}

pub async fn create(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: CreateUser = parse(body)?;
    let (user, token) = user_admin::create(&app, &ActedBy::new(&principal, &ip), request).await?;
    let mut answer = json!({ "user": user_json(&app, &user).await? });
    if let Some(issued) = token {
        answer["token"] = json!(issued.token);
        answer["token_expires_at"] = expiry_json(issued.expires_at);
    }
    Ok(Json(answer))
}

pub async fn patch(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let patch: UserPatch = parse(body)?;
    let updated = user_admin::patch(&app, &ActedBy::new(&principal, &ip), id, patch).await?;
    Ok(Json(json!({ "user": user_json(&app, &updated).await? })))
}

pub async fn delete(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    user_admin::delete(&app, &ActedBy::new(&principal, &ip), id).await?;
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
    let updated = user_admin::require_password_reset(
        &app,
        &ActedBy::new(&principal, &ip),
        id,
        request.require,
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
    let issued = user_admin::rotate_api_token(
        &app,
        &ActedBy::new(&principal, &ip),
        id,
        request.api_token_expiration,
    )
    .await?;
    Ok(Json(
        json!({ "token": issued.token, "token_expires_at": expiry_json(issued.expires_at) }),
    ))
}
