//! The create request of the packager API (the design's field table plus fleetctl's mTLS and
//! update-server options): every field checked, both spellings (`fleet-desktop`,
//! `fleet_desktop`) accepted, defaults applied. The result is canonical: the same installer
//! asked for twice gives the same `PackageArgs`, which is what deduplication hashes.

use packager::kind::PackageType;
use packager::options::PackageOptions;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::app_config::DefaultChannels;
use crate::error::ApiError;

/// Everything a build needs, defaults applied. Holds the enroll secret: stored only in the
/// blob store beside the package, never in the state table, never logged (no `Debug`).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PackageArgs {
    #[serde(rename = "type")]
    pub kind: String,
    pub fleet_url: String,
    pub enroll_secret: String,
    pub fleet_certificate: Option<String>,
    pub insecure: bool,
    pub osqueryd_channel: String,
    pub desktop_channel: String,
    pub orbit_channel: String,
    pub disable_updates: bool,
    pub debug: bool,
    pub fleet_desktop: bool,
    pub update_interval: String,
    pub osquery_flagfile: Option<String>,
    pub service: bool,
    pub enable_scripts: bool,
    pub host_identifier: Option<String>,
    pub fleet_tls_client_certificate: Option<String>,
    pub fleet_tls_client_key: Option<String>,
    pub update_tls_client_certificate: Option<String>,
    pub update_tls_client_key: Option<String>,
    pub fleet_desktop_alternative_browser_host: Option<String>,
    pub update_url: String,
    /// The update repository's trusted root.json, when the request brings its own.
    pub update_roots: Option<String>,
}

/// A checked create request.
pub struct CreateRequest {
    pub args: PackageArgs,
    pub retry: bool,
}

const MAX_URL: usize = 2048;
const MAX_SECRET: usize = 512;
const MAX_PEM: usize = 64 * 1024;
const MAX_FLAGFILE: usize = 64 * 1024;
const MAX_ROOT: usize = 256 * 1024;
const MAX_CHANNEL: usize = 64;

/// Every accepted field, in its underscore spelling.
const FIELDS: [&str; 24] = [
    "type",
    "fleet_url",
    "enroll_secret",
    "retry",
    "fleet_certificate",
    "insecure",
    "osqueryd_channel",
    "desktop_channel",
    "orbit_channel",
    "disable_updates",
    "debug",
    "fleet_desktop",
    "update_interval",
    "osquery_flagfile",
    "service",
    "enable_scripts",
    "host_identifier",
    "fleet_tls_client_certificate",
    "fleet_tls_client_key",
    "update_tls_client_certificate",
    "update_tls_client_key",
    "fleet_desktop_alternative_browser_host",
    "update_url",
    "update_roots",
];

struct Fields(Map<String, Value>);

fn bad(message: String) -> ApiError {
    ApiError::BadRequest(message)
}

impl Fields {
    /// Folds both spellings into one; the same field given in both is refused.
    fn normalize(body: Value) -> Result<Self, ApiError> {
        let Value::Object(raw) = body else {
            return Err(bad("the request body must be a JSON object".into()));
        };
        let mut fields = Map::new();
        for (name, value) in raw {
            let canonical = name.replace('-', "_");
            if !FIELDS.contains(&canonical.as_str()) {
                return Err(bad(format!("unknown field {name:?}")));
            }
            if fields.insert(canonical.clone(), value).is_some() {
                return Err(bad(format!(
                    "field {canonical:?} is given twice (hyphen and underscore spellings)"
                )));
            }
        }
        Ok(Fields(fields))
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(value)) => Ok(*value),
            Some(_) => Err(bad(format!("{name} must be true or false"))),
        }
    }

    fn text(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) if value.is_empty() => Ok(None),
            Some(Value::String(value)) if value.len() > max => {
                Err(bad(format!("{name} is longer than {max} bytes")))
            }
            Some(Value::String(value)) if value.contains('\0') => {
                Err(bad(format!("{name} contains a NUL character")))
            }
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(bad(format!("{name} must be a string"))),
        }
    }

    /// A value that ends up on one line of the environment file or the service's arguments.
    fn line(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        let value = self.text(name, max)?;
        if let Some(value) = &value {
            if value.chars().any(|c| c.is_control()) {
                return Err(bad(format!("{name} must not contain control characters")));
            }
            if value.trim() != value {
                return Err(bad(format!(
                    "{name} must not start or end with white space"
                )));
            }
        }
        Ok(value)
    }

    fn required(&self, name: &str, max: usize) -> Result<String, ApiError> {
        self.line(name, max)?
            .ok_or_else(|| bad(format!("{name} is required")))
    }
}

fn http_url(name: &str, value: &str) -> Result<(), ApiError> {
    let parsed = url::Url::parse(value)
        .map_err(|e| bad(format!("{name} is not a valid URL ({e}): {value:?}")))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(bad(format!(
            "{name} must be an http(s) URL with a host: {value:?}"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(bad(format!(
            "{name} must not carry a query, fragment or credentials"
        )));
    }
    Ok(())
}

/// `stable`, `edge` or a version prefix such as `4`, `4.6` or `5.12.1`; `default` when absent.
fn channel(name: &str, value: Option<String>, default: &str) -> Result<String, ApiError> {
    check_channel(name, value.unwrap_or_else(|| default.to_string()))
}

/// A channel name: `stable`, `edge` or a version prefix such as `4`, `4.6` or `5.12.1`.
pub fn check_channel(name: &str, value: String) -> Result<String, ApiError> {
    let valid = value.len() <= MAX_CHANNEL
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if valid {
        Ok(value)
    } else {
        Err(bad(format!(
            "{name} must be a channel name (letters, digits, '.', '-', '_'; e.g. stable, edge, 5.12): {value:?}"
        )))
    }
}

/// Go's duration syntax, as orbit parses `--update-interval` (`15m`, `1h30m`, `10s`).
fn go_duration_secs(value: &str) -> Option<f64> {
    let mut rest = value;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Some(total)
}

fn update_interval(value: Option<String>) -> Result<String, ApiError> {
    let value = value.unwrap_or_else(|| "15m0s".into());
    match go_duration_secs(&value) {
        Some(secs) if (1.0..=7.0 * 86_400.0).contains(&secs) => Ok(value),
        Some(_) => Err(bad(format!(
            "update_interval must be between 1s and 168h: {value:?}"
        ))),
        None => Err(bad(format!(
            "update_interval must be a duration such as 10s, 15m or 1h: {value:?}"
        ))),
    }
}

fn pem(name: &str, value: Option<String>, label: &str) -> Result<Option<String>, ApiError> {
    if let Some(pem) = &value {
        if !pem.contains(&format!("-----BEGIN {label}")) {
            return Err(bad(format!("{name} must be PEM ({label})")));
        }
    }
    Ok(value)
}

fn pair(
    fields: &Fields,
    certificate: &str,
    key: &str,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let cert = pem(
        certificate,
        fields.text(certificate, MAX_PEM)?,
        "CERTIFICATE",
    )?;
    let private = pem(key, fields.text(key, MAX_PEM)?, "")?;
    if cert.is_some() != private.is_some() {
        return Err(bad(format!(
            "{certificate} and {key} must be given together"
        )));
    }
    Ok((cert, private))
}

/// `host` or `host:port`, as Fleet Desktop builds `https://<host>/device/<token>` from it.
fn browser_host(value: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(host) = &value {
        let parsed = url::Url::parse(&format!("https://{host}/"));
        let plain = parsed
            .as_ref()
            .is_ok_and(|u| u.path() == "/" && u.username().is_empty() && u.query().is_none());
        if !plain || host.contains('/') {
            return Err(bad(format!(
                "fleet_desktop_alternative_browser_host must be a host or host:port: {host:?}"
            )));
        }
    }
    Ok(value)
}

/// A root.json: a JSON object whose signed role is `root` (tough checks the rest).
fn update_roots(value: Option<&Value>) -> Result<Option<String>, ApiError> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.is_empty() => return Ok(None),
        Some(Value::String(text)) => text.clone(),
        Some(object @ Value::Object(_)) => object.to_string(),
        Some(_) => {
            return Err(bad(
                "update_roots must be the repository's root.json (a JSON object or string)".into(),
            ))
        }
    };
    if text.len() > MAX_ROOT {
        return Err(bad(format!("update_roots is longer than {MAX_ROOT} bytes")));
    }
    let parsed: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("update_roots is not valid JSON: {e}")))?;
    if parsed.pointer("/signed/_type").and_then(Value::as_str) != Some("root") {
        return Err(bad(
            "update_roots must be a TUF root.json (signed._type = \"root\")".into(),
        ));
    }
    // As given: it is shipped in the package, where the agent trusts exactly these bytes.
    Ok(Some(text))
}

impl CreateRequest {
    /// With the installers' default channels (`stable`).
    pub fn parse(body: Value, default_update_url: &str) -> Result<Self, ApiError> {
        Self::parse_with(body, default_update_url, &DefaultChannels::default())
    }

    /// With the deployment's default channels (app config `packager.default_channels`) for
    /// the channels a request leaves out.
    pub fn parse_with(
        body: Value,
        default_update_url: &str,
        channels: &DefaultChannels,
    ) -> Result<Self, ApiError> {
        let fields = Fields::normalize(body)?;
        let kind = fields.required("type", 8)?;
        if PackageType::parse(&kind).is_none() {
            return Err(bad(format!(
                "type must be one of \"pkg\", \"msi\", \"deb\", \"rpm\": {kind:?}"
            )));
        }
        let fleet_url = fields.required("fleet_url", MAX_URL)?;
        http_url("fleet_url", &fleet_url)?;
        let enroll_secret = fields.required("enroll_secret", MAX_SECRET)?;
        if enroll_secret.contains(char::is_whitespace) {
            return Err(bad("enroll_secret must not contain white space".into()));
        }
        let update_url = fields
            .line("update_url", MAX_URL)?
            .unwrap_or_else(|| default_update_url.to_string());
        http_url("update_url", &update_url)?;
        let host_identifier = fields.line("host_identifier", 16)?;
        if let Some(id) = &host_identifier {
            if !matches!(id.as_str(), "uuid" | "instance") {
                return Err(bad(format!(
                    "host_identifier must be \"uuid\" or \"instance\": {id:?}"
                )));
            }
        }
        let (fleet_tls_client_certificate, fleet_tls_client_key) = pair(
            &fields,
            "fleet_tls_client_certificate",
            "fleet_tls_client_key",
        )?;
        let (update_tls_client_certificate, update_tls_client_key) = pair(
            &fields,
            "update_tls_client_certificate",
            "update_tls_client_key",
        )?;
        let args = PackageArgs {
            kind,
            fleet_url,
            enroll_secret,
            fleet_certificate: pem(
                "fleet_certificate",
                fields.text("fleet_certificate", MAX_PEM)?,
                "CERTIFICATE",
            )?,
            insecure: fields.flag("insecure", false)?,
            osqueryd_channel: channel(
                "osqueryd_channel",
                fields.line("osqueryd_channel", MAX_CHANNEL * 2)?,
                &channels.osqueryd,
            )?,
            desktop_channel: channel(
                "desktop_channel",
                fields.line("desktop_channel", MAX_CHANNEL * 2)?,
                &channels.desktop,
            )?,
            orbit_channel: channel(
                "orbit_channel",
                fields.line("orbit_channel", MAX_CHANNEL * 2)?,
                &channels.orbit,
            )?,
            disable_updates: fields.flag("disable_updates", false)?,
            debug: fields.flag("debug", false)?,
            fleet_desktop: fields.flag("fleet_desktop", false)?,
            update_interval: update_interval(fields.line("update_interval", 32)?)?,
            osquery_flagfile: fields.text("osquery_flagfile", MAX_FLAGFILE)?,
            service: fields.flag("service", true)?,
            enable_scripts: fields.flag("enable_scripts", false)?,
            host_identifier,
            fleet_tls_client_certificate,
            fleet_tls_client_key,
            update_tls_client_certificate,
            update_tls_client_key,
            fleet_desktop_alternative_browser_host: browser_host(
                fields.line("fleet_desktop_alternative_browser_host", 256)?,
            )?,
            update_url,
            update_roots: update_roots(fields.0.get("update_roots"))?,
        };
        Ok(CreateRequest {
            args,
            retry: fields.flag("retry", false)?,
        })
    }
}

impl PackageArgs {
    pub fn kind(&self) -> Option<PackageType> {
        PackageType::parse(&self.kind)
    }

    /// The builder's options.
    pub fn options(&self) -> PackageOptions {
        let bytes = |text: &Option<String>| text.as_ref().map(|t| t.as_bytes().to_vec());
        let pair = |a: &Option<String>, b: &Option<String>| match (bytes(a), bytes(b)) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        let mut options = PackageOptions::new(&self.fleet_url, &self.enroll_secret);
        options.orbit_channel = self.orbit_channel.clone();
        options.osqueryd_channel = self.osqueryd_channel.clone();
        options.desktop_channel = self.desktop_channel.clone();
        options.fleet_desktop = self.fleet_desktop;
        options.fleet_desktop_alternative_browser_host =
            self.fleet_desktop_alternative_browser_host.clone();
        options.insecure = self.insecure;
        options.disable_updates = self.disable_updates;
        options.debug = self.debug;
        options.enable_scripts = self.enable_scripts;
        options.host_identifier = self.host_identifier.clone();
        options.update_url = self.update_url.clone();
        options.update_interval = self.update_interval.clone();
        options.fleet_certificate = bytes(&self.fleet_certificate);
        options.fleet_tls_client = pair(
            &self.fleet_tls_client_certificate,
            &self.fleet_tls_client_key,
        );
        options.update_tls_client = pair(
            &self.update_tls_client_certificate,
            &self.update_tls_client_key,
        );
        options.osquery_flagfile = bytes(&self.osquery_flagfile);
        options.service = self.service;
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UPDATES: &str = "https://updates.example.com";

    fn parse(body: Value) -> Result<CreateRequest, String> {
        CreateRequest::parse(body, UPDATES).map_err(|e| e.to_string())
    }

    #[test]
    fn both_spellings_give_the_same_arguments() {
        let hyphen = parse(json!({"type": "deb", "fleet_url": "https://f.example.com",
            "enroll_secret": "s", "fleet-desktop": true, "orbit-channel": "edge"}))
        .ok()
        .map(|r| r.args);
        let underscore = parse(json!({"type": "deb", "fleet-url": "https://f.example.com",
            "enroll-secret": "s", "fleet_desktop": true, "orbit_channel": "edge"}))
        .ok()
        .map(|r| r.args);
        assert!(hyphen.is_some());
        assert!(hyphen == underscore, "spellings differ");
        let args = hyphen.unwrap_or_else(|| unreachable!());
        assert!(args.fleet_desktop);
        assert_eq!(args.orbit_channel, "edge");
        assert_eq!(args.osqueryd_channel, "stable");
        assert_eq!(args.update_url, UPDATES);
        assert_eq!(args.update_interval, "15m0s");
        assert!(args.service);
    }

    #[test]
    fn omitted_channels_take_the_deployment_defaults() {
        let channels = DefaultChannels {
            orbit: "edge".into(),
            osqueryd: "5.12".into(),
            desktop: "stable".into(),
        };
        let body = json!({"type": "deb", "fleet_url": "https://f.example.com",
            "enroll_secret": "s", "desktop_channel": "edge"});
        let args = CreateRequest::parse_with(body, UPDATES, &channels)
            .map_err(|e| e.to_string())
            .map(|r| r.args);
        let args = args.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(args.orbit_channel, "edge");
        assert_eq!(args.osqueryd_channel, "5.12");
        assert_eq!(args.desktop_channel, "edge", "the request's own wins");
    }

    #[test]
    fn durations_follow_go() {
        assert_eq!(go_duration_secs("15m0s"), Some(900.0));
        assert_eq!(go_duration_secs("1h30m"), Some(5400.0));
        assert_eq!(go_duration_secs("1.5s"), Some(1.5));
        assert_eq!(go_duration_secs("10"), None);
        assert_eq!(go_duration_secs("5d"), None);
        assert_eq!(go_duration_secs(""), None);
    }
}
