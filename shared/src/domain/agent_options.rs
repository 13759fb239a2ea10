//! Agent options (Fleet's shape) and the osquery config they render to for one host.
//!
//! `{"config": {...osquery config...}, "overrides": {"platforms": {"<platform>": {...}}},
//!   "command_line_flags": {...}, "extensions": {...}, "update_channels": {...}}`.
//! A team's options replace the global ones; a platform override replaces `config`.

use serde_json::{json, Map, Value};

use crate::error::ApiError;

const KNOWN_KEYS: &[&str] = &[
    "config",
    "overrides",
    "command_line_flags",
    "extensions",
    "update_channels",
    "script_execution_timeout",
];

/// Fleet's defaults for a new deployment.
pub fn default_options() -> Value {
    json!({
        "config": {
            "options": {
                "pack_delimiter": "/",
                "logger_tls_period": 10,
                "distributed_plugin": "tls",
                "disable_distributed": false,
                "logger_tls_endpoint": "/api/osquery/log",
                "distributed_interval": 10,
                "distributed_tls_max_attempts": 3
            },
            "decorators": {
                "load": [
                    "SELECT uuid AS host_uuid FROM system_info;",
                    "SELECT hostname AS hostname FROM system_info;"
                ]
            }
        },
        "overrides": {}
    })
}

fn object_at<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("agent options: {what} must be an object")))
}

pub fn validate(options: &Value) -> Result<(), ApiError> {
    let top = object_at(options, "agent_options")?;
    for key in top.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "agent options: unknown key {key:?} (known: {})",
                KNOWN_KEYS.join(", ")
            )));
        }
    }
    if let Some(config) = top.get("config") {
        validate_config(config, "config")?;
    }
    for key in ["command_line_flags", "extensions", "update_channels"] {
        if let Some(value) = top.get(key) {
            object_at(value, key)?;
        }
    }
    if let Some(overrides) = top.get("overrides") {
        let overrides = object_at(overrides, "overrides")?;
        if let Some(platforms) = overrides.get("platforms") {
            for (platform, config) in object_at(platforms, "overrides.platforms")? {
                validate_config(config, &format!("overrides.platforms.{platform}"))?;
            }
        }
    }
    Ok(())
}

fn validate_config(config: &Value, what: &str) -> Result<(), ApiError> {
    let config = object_at(config, what)?;
    // osquery reads any answer with an `error` key as a failure.
    if config.contains_key("error") {
        return Err(ApiError::bad_request(format!(
            "{what} must not have a key named error"
        )));
    }
    for key in ["options", "decorators", "packs", "schedule"] {
        if let Some(value) = config.get(key) {
            object_at(value, &format!("{what}.{key}"))?;
        }
    }
    Ok(())
}

/// The osquery config for a host: the options' `config` (or the override for the first of
/// `platforms`, most specific first, that has one), with `generated_packs` added to its `packs`.
pub fn render(options: &Value, platforms: &[&str], generated_packs: Map<String, Value>) -> Value {
    let overrides = options
        .pointer("/overrides/platforms")
        .and_then(Value::as_object);
    let overridden = overrides.and_then(|overrides| {
        platforms
            .iter()
            .find_map(|platform| overrides.get(*platform).filter(|config| config.is_object()))
    });
    let mut config = overridden
        .or_else(|| options.get("config"))
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if !generated_packs.is_empty() {
        if let Some(config) = config.as_object_mut() {
            let packs = config
                .entry("packs")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(packs) = packs.as_object_mut() {
                packs.extend(generated_packs);
            }
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_override_replaces_config_and_packs_are_added() {
        let options = json!({
            "config": {"options": {"distributed_interval": 10}},
            "overrides": {"platforms": {"darwin": {"options": {"distributed_interval": 30}}}}
        });
        let mut packs = Map::new();
        packs.insert(
            "Global".into(),
            json!({"queries": {"q": {"query": "select 1", "interval": 60}}}),
        );
        let linux = render(&options, &["ubuntu", "linux"], packs.clone());
        assert_eq!(linux["options"]["distributed_interval"], 10);
        assert_eq!(linux["packs"]["Global"]["queries"]["q"]["interval"], 60);
        let darwin = render(&options, &["darwin"], Map::new());
        assert_eq!(darwin["options"]["distributed_interval"], 30);
        assert!(darwin.get("packs").is_none());
    }

    #[test]
    fn validation_rejects_wrong_shapes() {
        assert!(validate(&default_options()).is_ok());
        assert!(validate(&json!([])).is_err());
        assert!(validate(&json!({"config": []})).is_err());
        assert!(validate(&json!({"bogus": {}})).is_err());
        assert!(validate(&json!({"overrides": {"platforms": {"darwin": 3}}})).is_err());
        assert!(validate(&json!({"config": {"options": "x"}})).is_err());
    }
}
