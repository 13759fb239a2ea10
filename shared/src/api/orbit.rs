//! Fleet's orbit API (wire-contracts.md): enroll, config, device token and ping. Every answer,
//! errors included, carries `X-Fleet-Capabilities`.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::body::{parse, JsonBody};
use crate::app::App;
use crate::domain::hosts::{self, instance_identity, uuid_identity, AgentKind, EnrollFacts};
use crate::domain::{enroll_secrets, orbit};
use crate::error::{ApiError, ApiResult};

pub const CAPABILITIES: &str = "orbit_endpoints,token_rotation";

pub async fn with_capabilities(mut response: Response) -> Response {
    response.headers_mut().insert(
        "x-fleet-capabilities",
        HeaderValue::from_static(CAPABILITIES),
    );
    response
}

#[derive(Deserialize)]
struct EnrollRequest {
    enroll_secret: String,
    hardware_uuid: String,
    #[serde(default)]
    hardware_serial: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    osquery_identifier: Option<String>,
    #[serde(default)]
    computer_name: String,
    #[serde(default)]
    hardware_model: String,
}

pub async fn enroll(State(app): State<App>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    let request: EnrollRequest = parse(body)?;
    if request.hardware_uuid.trim().is_empty() {
        return Err(ApiError::bad_request("hardware_uuid is required"));
    }
    let store = app.state();
    let secret = enroll_secrets::find(store, &request.enroll_secret)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    // The same identity osquery uses, so whichever enrolls first, both land on one host.
    let identifier = match request.osquery_identifier.as_deref().map(str::trim) {
        Some(instance) if !instance.is_empty() => instance_identity(instance),
        _ => uuid_identity(&request.hardware_uuid),
    };
    let facts = EnrollFacts {
        identifier,
        uuid: request.hardware_uuid.trim().to_uppercase(),
        hardware_serial: request.hardware_serial,
        hardware_model: request.hardware_model,
        hostname: request.hostname,
        computer_name: request.computer_name,
        platform: request.platform,
        ..EnrollFacts::default()
    };
    let enrolled = hosts::enroll(
        store,
        app.clock.now(),
        AgentKind::Orbit,
        &facts,
        secret.team_id,
    )
    .await?;
    tracing::info!(
        host_id = enrolled.host_id,
        team_id = secret.team_id,
        "orbit enrolled"
    );
    Ok(Json(json!({ "orbit_node_key": enrolled.node_key })))
}

fn orbit_key(body: &Value) -> Option<&str> {
    body.get("orbit_node_key").and_then(Value::as_str)
}

pub async fn config(State(app): State<App>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    let host = orbit::authenticate(app.state(), orbit_key(&body)).await?;
    let store = app.state();
    let now_ms = app.clock.now().timestamp_millis();
    let global = app.config_cache.app_config(store, now_ms).await?;
    let team = match host.host.team_id {
        Some(team) => app.config_cache.team_options(store, team, now_ms).await?,
        None => Default::default(),
    };
    let options = team.as_ref().as_ref().unwrap_or(&global.agent_options);
    let object = |key: &str| {
        options
            .get(key)
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()))
    };
    let mut channels = json!({"orbit": "stable", "osqueryd": "stable", "desktop": "stable"});
    if let Some(set) = options.get("update_channels").and_then(Value::as_object) {
        for (component, channel) in set {
            channels[component] = channel.clone();
        }
    }
    let mut answer = json!({
        "update_channels": channels,
        "command_line_startup_flags": object("command_line_flags"),
        "extensions": object("extensions"),
        "notifications": {},
    });
    if let Some(timeout) = options.get("script_execution_timeout") {
        answer["script_execution_timeout"] = timeout.clone();
    }
    Ok(Json(answer))
}

pub async fn device_token(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let host = orbit::authenticate(app.state(), orbit_key(&body)).await?;
    let token = match body.get("device_auth_token") {
        Some(Value::String(token)) => token.as_str(),
        None | Some(Value::Null) => "",
        Some(_) => return Err(ApiError::bad_request("device_auth_token must be a string")),
    };
    orbit::set_device_token(app.state(), app.clock.now(), host.host.id, token).await?;
    Ok(Json(json!({})))
}

pub async fn ping() -> Json<Value> {
    Json(json!({}))
}
