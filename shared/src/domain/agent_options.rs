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

/// What is wrong with some agent options: where (a key path such as
/// `config.options.distributed_interval`, empty for the whole value) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "the agent options {}", self.message)
        } else {
            write!(f, "`{}` {}", self.path, self.message)
        }
    }
}

fn problem(path: &str, message: impl Into<String>) -> Problem {
    Problem {
        path: path.to_string(),
        message: message.into(),
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The kinds of value a key takes.
#[derive(Clone, Copy)]
enum Kind {
    Number,
    Bool,
    Text,
    Object,
    TextList,
}

impl Kind {
    fn fits(self, value: &Value) -> bool {
        match self {
            Kind::Number => value.is_number(),
            Kind::Bool => value.is_boolean(),
            Kind::Text => value.is_string(),
            Kind::Object => value.is_object(),
            Kind::TextList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
        }
    }

    fn needs(self) -> &'static str {
        match self {
            Kind::Number => "must be a number",
            Kind::Bool => "must be true or false",
            Kind::Text => "must be a string",
            Kind::Object => "must be an object",
            Kind::TextList => "must be a list of strings",
        }
    }
}

fn expect(value: &Value, kind: Kind, path: &str) -> Result<(), Problem> {
    if kind.fits(value) {
        Ok(())
    } else {
        Err(problem(path, kind.needs()))
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Problem> {
    value
        .as_object()
        .ok_or_else(|| problem(path, Kind::Object.needs()))
}

/// Refuses keys outside `known`, naming them and the keys that are.
fn only_known(map: &Map<String, Value>, known: &[&str], path: &str) -> Result<(), Problem> {
    match map.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(problem(
            &child(path, key),
            format!("is not a known key here (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// The keys of an osquery config (Fleet's `config`, and each platform override).
const CONFIG_KEYS: &[&str] = &[
    "options",
    "schedule",
    "packs",
    "decorators",
    "file_paths",
    "file_paths_query",
    "file_accesses",
    "exclude_paths",
    "yara",
    "prometheus_targets",
    "views",
    "auto_table_construction",
    "events",
];

/// The osquery options whose type is checked (others pass as they are: osquery has hundreds,
/// and ignores those it does not know).
const OPTION_KINDS: &[(&str, Kind)] = &[
    ("distributed_interval", Kind::Number),
    ("distributed_tls_max_attempts", Kind::Number),
    ("distributed_denylist_duration", Kind::Number),
    ("logger_tls_period", Kind::Number),
    ("logger_tls_max_lines", Kind::Number),
    ("logger_tls_max_linesize", Kind::Number),
    ("logger_min_status", Kind::Number),
    ("logger_min_stderr", Kind::Number),
    ("config_refresh", Kind::Number),
    ("config_tls_refresh", Kind::Number),
    ("config_accelerated_refresh", Kind::Number),
    ("config_tls_max_attempts", Kind::Number),
    ("schedule_splay_percent", Kind::Number),
    ("schedule_default_interval", Kind::Number),
    ("schedule_timeout", Kind::Number),
    ("schedule_max_drift", Kind::Number),
    ("watchdog_level", Kind::Number),
    ("watchdog_memory_limit", Kind::Number),
    ("watchdog_utilization_limit", Kind::Number),
    ("watchdog_delay", Kind::Number),
    ("events_expiry", Kind::Number),
    ("events_max", Kind::Number),
    ("buffered_log_max", Kind::Number),
    ("read_max", Kind::Number),
    ("table_delay", Kind::Number),
    ("carver_block_size", Kind::Number),
    ("carver_expiry", Kind::Number),
    ("value_max", Kind::Number),
    ("pack_refresh_interval", Kind::Number),
    ("disable_distributed", Kind::Bool),
    ("disable_events", Kind::Bool),
    ("disable_audit", Kind::Bool),
    ("disable_logging", Kind::Bool),
    ("disable_carver", Kind::Bool),
    ("disable_decorators", Kind::Bool),
    ("disable_hash_cache", Kind::Bool),
    ("carver_disable_function", Kind::Bool),
    ("carver_compression", Kind::Bool),
    ("decorations_top_level", Kind::Bool),
    ("logger_snapshot_event_type", Kind::Bool),
    ("logger_event_type", Kind::Bool),
    ("schedule_lognames", Kind::Bool),
    ("verbose", Kind::Bool),
    ("utc", Kind::Bool),
    ("enable_foreign", Kind::Bool),
    ("events_optimize", Kind::Bool),
    ("audit_allow_config", Kind::Bool),
    ("audit_persist", Kind::Bool),
    ("enable_file_events", Kind::Bool),
    ("enable_bpf_events", Kind::Bool),
    ("enable_windows_events_publisher", Kind::Bool),
    ("enable_windows_events_subscriber", Kind::Bool),
    ("enable_ntfs_event_publisher", Kind::Bool),
    ("pack_delimiter", Kind::Text),
    ("distributed_plugin", Kind::Text),
    ("distributed_tls_read_endpoint", Kind::Text),
    ("distributed_tls_write_endpoint", Kind::Text),
    ("logger_plugin", Kind::Text),
    ("logger_tls_endpoint", Kind::Text),
    ("logger_path", Kind::Text),
    ("config_plugin", Kind::Text),
    ("config_tls_endpoint", Kind::Text),
    ("enroll_tls_endpoint", Kind::Text),
    ("carver_start_endpoint", Kind::Text),
    ("carver_continue_endpoint", Kind::Text),
    ("host_identifier", Kind::Text),
    ("disable_tables", Kind::Text),
    ("enable_tables", Kind::Text),
    ("windows_event_channels", Kind::Text),
    ("nullvalue", Kind::Text),
];

/// The first problem of the options, walking them in key order.
pub fn check(options: &Value) -> Result<(), Problem> {
    let top = object(options, "")?;
    only_known(top, KNOWN_KEYS, "")?;
    if let Some(config) = top.get("config") {
        check_config(config, "config")?;
    }
    if let Some(flags) = top.get("command_line_flags") {
        for (flag, value) in object(flags, "command_line_flags")? {
            if value.is_array() || value.is_object() {
                return Err(problem(
                    &child("command_line_flags", flag),
                    "must be a string, a number or true/false",
                ));
            }
        }
    }
    if let Some(extensions) = top.get("extensions") {
        for (name, extension) in object(extensions, "extensions")? {
            object(extension, &child("extensions", name))?;
        }
    }
    if let Some(channels) = top.get("update_channels") {
        let channels = object(channels, "update_channels")?;
        only_known(
            channels,
            &["orbit", "osqueryd", "desktop"],
            "update_channels",
        )?;
        for (name, channel) in channels {
            expect(channel, Kind::Text, &child("update_channels", name))?;
        }
    }
    if let Some(timeout) = top.get("script_execution_timeout") {
        if timeout.as_u64().is_none() {
            return Err(problem(
                "script_execution_timeout",
                "must be a whole number of seconds",
            ));
        }
    }
    if let Some(overrides) = top.get("overrides") {
        let overrides = object(overrides, "overrides")?;
        only_known(overrides, &["platforms"], "overrides")?;
        if let Some(platforms) = overrides.get("platforms") {
            for (platform, config) in object(platforms, "overrides.platforms")? {
                let path = child("overrides.platforms", platform);
                let well_formed = !platform.is_empty()
                    && platform
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !well_formed {
                    return Err(problem(
                        &path,
                        "is not a platform name: darwin, windows, linux, or a Linux \
                         distribution as osquery names it (ubuntu, rhel...), in lowercase",
                    ));
                }
                check_config(config, &path)?;
            }
        }
    }
    Ok(())
}

fn check_config(config: &Value, path: &str) -> Result<(), Problem> {
    let config = object(config, path)?;
    // osquery reads any answer with an `error` key as a failure.
    if config.contains_key("error") {
        return Err(problem(
            &child(path, "error"),
            "must not be used: osquery reads a config with an error key as a failure",
        ));
    }
    only_known(config, CONFIG_KEYS, path)?;
    for key in [
        "packs",
        "file_paths",
        "file_accesses",
        "exclude_paths",
        "views",
    ] {
        if let Some(value) = config.get(key) {
            let kind = if key == "file_accesses" {
                Kind::TextList
            } else {
                Kind::Object
            };
            expect(value, kind, &child(path, key))?;
        }
    }
    if let Some(options) = config.get("options") {
        let options_path = child(path, "options");
        for (name, value) in object(options, &options_path)? {
            if let Some((_, kind)) = OPTION_KINDS.iter().find(|(known, _)| known == name) {
                expect(value, *kind, &child(&options_path, name))?;
            } else if value.is_array() || value.is_object() {
                return Err(problem(
                    &child(&options_path, name),
                    "must be a string, a number or true/false",
                ));
            }
        }
    }
    if let Some(decorators) = config.get("decorators") {
        let decorators_path = child(path, "decorators");
        let decorators = object(decorators, &decorators_path)?;
        only_known(
            decorators,
            &["load", "always", "interval"],
            &decorators_path,
        )?;
        for key in ["load", "always"] {
            if let Some(queries) = decorators.get(key) {
                expect(queries, Kind::TextList, &child(&decorators_path, key))?;
            }
        }
        if let Some(interval) = decorators.get("interval") {
            let interval_path = child(&decorators_path, "interval");
            for (seconds, queries) in object(interval, &interval_path)? {
                expect(queries, Kind::TextList, &child(&interval_path, seconds))?;
            }
        }
    }
    if let Some(schedule) = config.get("schedule") {
        let schedule_path = child(path, "schedule");
        for (name, query) in object(schedule, &schedule_path)? {
            let query_path = child(&schedule_path, name);
            let query = object(query, &query_path)?;
            match query.get("query") {
                Some(sql) => expect(sql, Kind::Text, &child(&query_path, "query"))?,
                None => return Err(problem(&query_path, "needs a `query`")),
            }
            match query.get("interval") {
                Some(interval) => expect(interval, Kind::Number, &child(&query_path, "interval"))?,
                None => return Err(problem(&query_path, "needs an `interval`")),
            }
        }
    }
    Ok(())
}

/// The options as the JSON API receives them: 400 with the first problem.
pub fn validate(options: &Value) -> Result<(), ApiError> {
    check(options).map_err(|p| ApiError::bad_request(format!("agent options: {p}")))
}

/// Agent options typed by an admin, refused with the line the problem is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextProblem {
    /// 1-based; None when no line can be named.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TextProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Parses and checks agent options written as JSON text: a syntax error names its line and
/// column, a wrong key or value names its path and the line where that key is written.
pub fn parse_text(text: &str) -> Result<Value, TextProblem> {
    let value: Value = serde_json::from_str(text).map_err(|e| TextProblem {
        line: (e.line() > 0).then_some(e.line()),
        message: format!("column {}: {}", e.column(), syntax_message(&e)),
    })?;
    if let Err(problem) = check(&value) {
        let lines = key_lines(text);
        // The key's own line, else the nearest enclosing key's.
        let mut path = problem.path.as_str();
        let line = loop {
            if let Some(line) = lines.get(path) {
                break Some(*line);
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => break None,
            }
        };
        return Err(TextProblem {
            line,
            message: problem.to_string(),
        });
    }
    Ok(value)
}

/// serde_json's message without its own " at line L column C" tail (we say it first).
fn syntax_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// The 1-based line of every key path of a JSON text (`a.b`, `a.list[2]`); the text is valid
/// JSON (serde_json parsed it), so this only follows its structure. A repeated key counts
/// where it is last written, as serde_json keeps the last value.
pub fn key_lines(text: &str) -> std::collections::HashMap<String, usize> {
    let mut locator = Locator {
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
        lines: std::collections::HashMap::new(),
    };
    locator.value("");
    locator.lines
}

struct Locator<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    lines: std::collections::HashMap<String, usize>,
}

impl Locator<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.at += 1;
        }
    }

    /// A string token, decoded (keys may hold escapes).
    fn string(&mut self) -> String {
        let start = self.at;
        self.at += 1;
        while let Some(byte) = self.peek() {
            self.at += 1;
            match byte {
                b'\\' => self.at += 1,
                b'"' => break,
                _ => {}
            }
        }
        let raw = self.bytes.get(start..self.at).unwrap_or_default();
        std::str::from_utf8(raw)
            .ok()
            .and_then(|raw| serde_json::from_str::<String>(raw).ok())
            .unwrap_or_default()
    }

    fn value(&mut self, path: &str) {
        self.skip_space();
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b'"') => {
                            let line = self.line;
                            let key = self.string();
                            let key_path = child(path, &key);
                            self.lines.insert(key_path.clone(), line);
                            self.skip_space();
                            self.at += 1; // ':'
                            self.value(&key_path);
                        }
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return;
                        }
                        _ => return,
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut index = 0;
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => {
                            self.at += 1;
                            index += 1;
                        }
                        Some(b']') => {
                            self.at += 1;
                            return;
                        }
                        None => return,
                        Some(_) => {
                            let item = format!("{path}[{index}]");
                            self.lines.insert(item.clone(), self.line);
                            self.value(&item);
                        }
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while let Some(byte) = self.peek() {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.at += 1;
                }
            }
            None => {}
        }
    }
}

/// Options as the editor shows them: indented JSON, keys in order.
pub fn to_text(options: &Value) -> String {
    serde_json::to_string_pretty(options).unwrap_or_default()
}

/// A fingerprint of stored options (None: a team without its own), so that a save made
/// against what an admin reviewed can tell that they changed meanwhile.
pub fn fingerprint(options: Option<&Value>) -> String {
    let text = serde_json::to_string(&options).unwrap_or_default();
    super::credentials::sha256_hex(&text)
}

/// 409 when `reviewed` (a fingerprint) is given and is not that of the `current` options:
/// they changed since the change was made against them. Called inside the read-modify-write,
/// so the check and the write see the same version.
pub fn check_reviewed(current: Option<&Value>, reviewed: Option<&str>) -> Result<(), ApiError> {
    match reviewed {
        Some(reviewed) if reviewed != fingerprint(current) => Err(ApiError::Conflict(
            "the agent options changed since this change was reviewed".into(),
        )),
        _ => Ok(()),
    }
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
        assert!(validate(&json!({"overrides": {"platforms": {"Darwin": {}}}})).is_err());
        assert!(validate(&json!({"overrides": {"nope": {}}})).is_err());
        assert!(validate(&json!({"config": {"error": "x"}})).is_err());
        assert!(validate(&json!({"config": {"schedule": {"q": {"query": "select 1"}}}})).is_err());
        assert!(validate(&json!({"update_channels": {"osqueryd": "edge"}, "command_line_flags": {"verbose": true}})).is_ok());
    }

    #[test]
    fn text_problems_name_the_line_and_the_key() {
        let syntax = parse_text("{\n  \"config\": {\n    \"options\": {,}\n  }\n}").unwrap_err();
        assert_eq!(syntax.line, Some(3), "{syntax}");
        let text = "{\n  \"config\": {\n    \"options\": {\n      \"pack_delimiter\": \"/\",\n      \"distributed_interval\": \"ten\"\n    }\n  }\n}";
        let typed = parse_text(text).unwrap_err();
        assert_eq!(
            typed.to_string(),
            "line 5: `config.options.distributed_interval` must be a number"
        );
        let unknown = parse_text("{\n\n  \"bogus\": 1\n}").unwrap_err();
        assert_eq!(unknown.line, Some(3));
        assert!(unknown.message.contains("`bogus`"), "{unknown}");
        let platform = parse_text(
            "{\"overrides\": {\"platforms\": {\n \"darwin\": {\"options\": {\"verbose\": 1}}}}}",
        )
        .unwrap_err();
        assert_eq!(platform.line, Some(2));
        assert!(platform
            .message
            .contains("overrides.platforms.darwin.options.verbose"));
        assert!(parse_text(&to_text(&default_options())).is_ok());
    }
}
