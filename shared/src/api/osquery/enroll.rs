//! `POST /api/osquery/enroll`: an enroll secret in, a node key out.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::body::{parse, JsonBody};
use crate::app::App;
use crate::domain::hosts::{self, EnrollFacts};
use crate::domain::{enroll_secrets, live};
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
struct EnrollRequest {
    enroll_secret: String,
    #[serde(default)]
    host_identifier: String,
    #[serde(default)]
    platform_type: Option<String>,
    #[serde(default)]
    host_details: Option<Value>,
}

/// osquery's `platform_type` bitmask as a platform name, for hosts whose details lack one.
fn platform_from_type(platform_type: &str) -> &'static str {
    match platform_type.trim().parse::<u32>() {
        Ok(bits) if bits & 0x10 != 0 => "darwin",
        Ok(bits) if bits & 0x02 != 0 && bits & 0x08 == 0 => "windows",
        _ => "linux",
    }
}

pub async fn enroll(State(app): State<App>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    let request: EnrollRequest = parse(body)?;
    let details = request.host_details.unwrap_or_else(|| json!({}));
    if !details.is_object() {
        return Err(ApiError::bad_request("host_details must be an object"));
    }
    let store = app.state();
    let secret = enroll_secrets::find(store, &request.enroll_secret)
        .await?
        .ok_or(ApiError::NodeInvalid("invalid enroll secret"))?;
    let mut facts = EnrollFacts::from_osquery(&request.host_identifier, &details)?;
    if facts.platform.is_empty() {
        facts.platform = platform_from_type(request.platform_type.as_deref().unwrap_or("")).into();
    }
    let enrolled = hosts::enroll(
        store,
        app.clock.now(),
        hosts::AgentKind::Osquery,
        &facts,
        secret.team_id,
    )
    .await?;
    if let Some(old) = &enrolled.replaced_key_hash {
        app.host_auth.invalidate(old);
        live::bump_epoch(&app).await?;
    }
    tracing::info!(
        host_id = enrolled.host_id,
        team_id = secret.team_id,
        reenrolled = enrolled.replaced_key_hash.is_some(),
        "osquery enrolled"
    );
    Ok(Json(json!({ "node_key": enrolled.node_key })))
}

#[cfg(test)]
mod tests {
    use super::platform_from_type;

    #[test]
    fn platform_bitmask() {
        assert_eq!(platform_from_type("21"), "darwin");
        assert_eq!(platform_from_type("2"), "windows");
        assert_eq!(platform_from_type("9"), "linux");
        assert_eq!(platform_from_type("junk"), "linux");
    }
}
