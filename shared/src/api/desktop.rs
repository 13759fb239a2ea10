//! Fleet Desktop's device API (the My device page is the admin UI crate's). The device token
//! is in the path: it is never logged (the request log names the route template only), and
//! invalid tokens are rate-limited per source address in the state store.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use serde_json::{json, Value};

use super::client_ip::ClientIp;
use crate::app::App;
use crate::domain::hosts::{self, HostState};
use crate::domain::rate_limit::{Verdict, DEVICE_TOKEN_ERRORS};
use crate::domain::{app_config, orbit};
use crate::error::{ApiError, ApiResult};

/// The host whose valid device token is in the path.
pub struct DeviceHost(pub HostState);

impl FromRequestParts<App> for DeviceHost {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, app).await;
        let Path(token) = Path::<String>::from_request_parts(parts, app)
            .await
            .map_err(|_| ApiError::bad_request("invalid device token"))?;
        let store = app.state();
        let now = app.clock.unix();
        if let Verdict::Limited { retry_after } = DEVICE_TOKEN_ERRORS.check(store, &ip, now).await?
        {
            return Err(ApiError::TooManyRequests { retry_after });
        }
        if let Some(host_id) = orbit::host_for_device_token(store, &token).await? {
            if let Some(state) = hosts::load(store, host_id).await? {
                return Ok(DeviceHost(state));
            }
        }
        match DEVICE_TOKEN_ERRORS.hit(store, &ip, now).await? {
            Verdict::Limited { retry_after } => Err(ApiError::TooManyRequests { retry_after }),
            Verdict::Allowed => Err(ApiError::Unauthorized),
        }
    }
}

pub async fn desktop(State(app): State<App>, DeviceHost(_): DeviceHost) -> ApiResult<Json<Value>> {
    let config = app_config::load(app.state()).await?;
    Ok(Json(json!({
        "failing_policies_count": 0,
        "self_service": false,
        "notifications": {},
        "config": { "org_info": config.org_info },
    })))
}

pub async fn device(
    State(app): State<App>,
    DeviceHost(host): DeviceHost,
) -> ApiResult<Json<Value>> {
    let config = app_config::load(app.state()).await?;
    Ok(Json(json!({
        "host": host.to_json(app.clock.now()),
        "org_info": config.org_info,
        "license": { "tier": "free" },
    })))
}

pub async fn ping(DeviceHost(_): DeviceHost) -> Json<Value> {
    Json(json!({}))
}
