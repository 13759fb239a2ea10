//! The orbit endpoints of the Fleet server (wire-contracts.md, "orbit API"), under the Fleet
//! URL's path prefix if it has one.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

use crate::host_facts::HostFacts;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: the node key (or enroll secret) was refused; orbit enrolls again.
    #[error("the server refused the credentials (401)")]
    Unauthorized,
    #[error("the server answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("cannot reach the server: {0}")]
    Transport(String),
    #[error("unexpected answer: {0}")]
    Answer(String),
}

/// Update channels the server asks for (empty fields keep the agent's own).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UpdateChannels {
    #[serde(default)]
    pub orbit: String,
    #[serde(default)]
    pub osqueryd: String,
    #[serde(default)]
    pub desktop: String,
}

/// An osquery extension the server wants on its platform, from its update channel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExtensionInfo {
    pub platform: String,
    pub channel: String,
    pub file_name: String,
}

/// The answer of `POST /api/fleet/orbit/config` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OrbitConfig {
    #[serde(default)]
    pub command_line_startup_flags: Option<Map<String, Value>>,
    /// Read entry by entry (`wanted_extensions`): one malformed entry must not cost the rest
    /// of the config.
    #[serde(default)]
    pub extensions: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub update_channels: Option<UpdateChannels>,
    #[serde(default)]
    pub notifications: Option<Value>,
}

impl OrbitConfig {
    /// The extensions the server lists for `platform`; malformed entries are skipped.
    pub fn wanted_extensions(&self, platform: &str) -> BTreeMap<String, ExtensionInfo> {
        self.extensions
            .iter()
            .flatten()
            .filter_map(|(name, entry)| {
                match serde_json::from_value::<ExtensionInfo>(entry.clone()) {
                    Ok(info) => Some((name.clone(), info)),
                    Err(err) => {
                        tracing::warn!(extension = %name, %err, "ignoring a malformed extension entry");
                        None
                    }
                }
            })
            .filter(|(_, info)| info.platform == platform)
            .collect()
    }
}

#[derive(Clone)]
pub struct OrbitApi {
    http: reqwest::Client,
    /// The Fleet URL without a trailing slash (its path prefix included).
    base: String,
}

impl OrbitApi {
    pub fn new(http: reqwest::Client, fleet_url: &str) -> Self {
        OrbitApi {
            http,
            base: fleet_url.trim_end_matches('/').to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        match status {
            200..=299 => serde_json::from_slice(&bytes).or_else(|_| {
                if bytes.is_empty() {
                    Ok(json!({}))
                } else {
                    Err(ApiError::Answer(format!("{path} answered non-JSON")))
                }
            }),
            401 => Err(ApiError::Unauthorized),
            _ => Err(ApiError::Status {
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    /// Enrolls and answers the orbit node key.
    pub async fn enroll(
        &self,
        enroll_secret: &str,
        facts: &HostFacts,
        instance_identifier: bool,
    ) -> Result<String, ApiError> {
        let mut body = json!({
            "enroll_secret": enroll_secret,
            "hardware_uuid": facts.hardware_uuid,
            "hardware_serial": facts.hardware_serial,
            "hostname": facts.hostname,
            "platform": facts.platform,
            "computer_name": facts.computer_name,
            "hardware_model": facts.hardware_model,
        });
        if instance_identifier {
            if let Some(instance) = &facts.osquery_instance_id {
                body["osquery_identifier"] = json!(instance);
            }
        }
        let answer = self.post("/api/fleet/orbit/enroll", body).await?;
        answer["orbit_node_key"]
            .as_str()
            .filter(|key| !key.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ApiError::Answer("enroll answered no orbit_node_key".into()))
    }

    pub async fn config(&self, node_key: &str) -> Result<OrbitConfig, ApiError> {
        let answer = self
            .post(
                "/api/fleet/orbit/config",
                json!({ "orbit_node_key": node_key }),
            )
            .await?;
        serde_json::from_value(answer).map_err(|e| ApiError::Answer(e.to_string()))
    }

    pub async fn set_device_token(&self, node_key: &str, token: &str) -> Result<(), ApiError> {
        self.post(
            "/api/fleet/orbit/device_token",
            json!({ "orbit_node_key": node_key, "device_auth_token": token }),
        )
        .await
        .map(|_| ())
    }

    /// Whether the server still accepts the device token (`HEAD .../device/{token}/ping`).
    pub async fn device_token_valid(&self, token: &str) -> Result<bool, ApiError> {
        let response = self
            .http
            .head(self.url(&format!("/api/latest/fleet/device/{token}/ping")))
            .send()
            .await
            // Without the URL: the token is in its path and must never reach a log line.
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            401 | 404 => Ok(false),
            status => Err(ApiError::Status {
                status,
                body: String::new(),
            }),
        }
    }
}
