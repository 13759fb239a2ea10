//! orbit's command line: the same flags, each with its `ORBIT_*` environment variable (the
//! form fleetd packages use, through `/etc/default/orbit` or the launchd plist), and
//! everything after `--` passed to osqueryd.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(windows)]
const DEFAULT_ROOT_DIR: &str = r"C:\Program Files\Orbit";
#[cfg(not(windows))]
const DEFAULT_ROOT_DIR: &str = "/opt/orbit";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HostIdentifier {
    Uuid,
    Instance,
}

// No Debug: it holds the enroll secret, which must never reach a log.
#[derive(Clone, Parser)]
#[command(
    name = "flotilla-agent",
    version,
    about = "An orbit-compatible fleetd agent"
)]
pub struct Cli {
    /// URL of the Fleet (or Flotilla) server.
    #[arg(long, env = "ORBIT_FLEET_URL")]
    pub fleet_url: Option<String>,
    /// Enroll secret (prefer --enroll-secret-path: environments are easy to read).
    #[arg(long, env = "ORBIT_ENROLL_SECRET", hide_env_values = true)]
    pub enroll_secret: Option<String>,
    /// File holding the enroll secret.
    #[arg(long, env = "ORBIT_ENROLL_SECRET_PATH")]
    pub enroll_secret_path: Option<PathBuf>,
    /// Root directory of the agent's files.
    #[arg(long, env = "ORBIT_ROOT_DIR", default_value = DEFAULT_ROOT_DIR)]
    pub root_dir: PathBuf,
    /// Accept any server certificate.
    #[arg(long, env = "ORBIT_INSECURE")]
    pub insecure: bool,
    /// PEM bundle trusted for the Fleet server, besides the OS and Mozilla roots.
    #[arg(long, env = "ORBIT_FLEET_CERTIFICATE")]
    pub fleet_certificate: Option<PathBuf>,
    /// URL of the TUF update server.
    #[arg(
        long,
        env = "ORBIT_UPDATE_URL",
        default_value = "https://tuf.fleetctl.com"
    )]
    pub update_url: String,
    /// The update server's root metadata (JSON), instead of the root built into the agent.
    #[arg(long, env = "ORBIT_UPDATE_ROOTS")]
    pub update_roots: Option<String>,
    #[arg(long, env = "ORBIT_ORBIT_CHANNEL", default_value = "stable")]
    pub orbit_channel: String,
    #[arg(long, env = "ORBIT_OSQUERYD_CHANNEL", default_value = "stable")]
    pub osqueryd_channel: String,
    #[arg(long, env = "ORBIT_DESKTOP_CHANNEL", default_value = "stable")]
    pub desktop_channel: String,
    /// How often to check for updates (e.g. 15m, 1h, 30s).
    #[arg(long, env = "ORBIT_UPDATE_INTERVAL", default_value = "15m", value_parser = parse_duration)]
    pub update_interval: Duration,
    #[arg(long, env = "ORBIT_DISABLE_UPDATES")]
    pub disable_updates: bool,
    /// Run Fleet Desktop.
    #[arg(long, env = "ORBIT_FLEET_DESKTOP")]
    pub fleet_desktop: bool,
    /// Host for the "My device" URL that needs no client certificate (mTLS setups).
    #[arg(long, env = "ORBIT_FLEET_DESKTOP_ALTERNATIVE_BROWSER_HOST")]
    pub fleet_desktop_alternative_browser_host: Option<String>,
    #[arg(
        long,
        env = "ORBIT_HOST_IDENTIFIER",
        value_enum,
        default_value = "uuid"
    )]
    pub host_identifier: HostIdentifier,
    #[arg(long, env = "ORBIT_DEBUG")]
    pub debug: bool,
    #[arg(long, env = "ORBIT_ENABLE_SCRIPTS")]
    pub enable_scripts: bool,
    /// Client certificate for the Fleet server (default: <root>/fleet_client.crt if present).
    #[arg(long, env = "ORBIT_FLEET_TLS_CLIENT_CERTIFICATE")]
    pub fleet_tls_client_certificate: Option<PathBuf>,
    #[arg(long, env = "ORBIT_FLEET_TLS_CLIENT_KEY")]
    pub fleet_tls_client_key: Option<PathBuf>,
    /// Client certificate for the update server (default: <root>/update_client.crt if present).
    #[arg(long, env = "ORBIT_UPDATE_TLS_CLIENT_CERTIFICATE")]
    pub update_tls_client_certificate: Option<PathBuf>,
    #[arg(long, env = "ORBIT_UPDATE_TLS_CLIENT_KEY")]
    pub update_tls_client_key: Option<PathBuf>,
    /// How often to fetch the orbit config (Flotilla's addition; orbit polls every 30 s).
    #[arg(long, env = "FLOTILLA_AGENT_ORBIT_CONFIG_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub orbit_config_interval: Duration,
    /// Passed to osqueryd as they are (after `--`).
    #[arg(last = true)]
    pub osqueryd_args: Vec<String>,
}

/// Go-style durations as orbit takes them: `90s`, `15m`, `1h30m`, `500ms`; a bare number is
/// seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("{text:?}: a number needs a unit (h, m, s, ms)"))?;
        let (number, tail) = rest.split_at(digits);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{text:?}: {number:?} is not a number"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            other => return Err(format!("{text:?}: unknown unit {other:?}")),
        };
        total += Duration::from_secs_f64(value * seconds);
        rest = next;
    }
    if total.is_zero() {
        return Err(format!("{text:?}: must be longer than zero"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_orbit_flags() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn environment_variables_set_every_flag() {
        // One process-wide environment: set, parse, clear in one test.
        let vars = [
            ("ORBIT_FLEET_URL", "https://fleet.example.com"),
            ("ORBIT_ENROLL_SECRET_PATH", "/opt/orbit/secret.txt"),
            ("ORBIT_ROOT_DIR", "/tmp/orbit-root"),
            ("ORBIT_ORBIT_CHANNEL", "edge"),
            ("ORBIT_OSQUERYD_CHANNEL", "5.12.1"),
            ("ORBIT_UPDATE_INTERVAL", "1h"),
            ("ORBIT_FLEET_DESKTOP", "true"),
            ("ORBIT_HOST_IDENTIFIER", "instance"),
            ("ORBIT_INSECURE", "true"),
        ];
        for (name, value) in vars {
            // SAFETY: this test is the only one touching these variables.
            unsafe { std::env::set_var(name, value) };
        }
        let cli = Cli::try_parse_from(["flotilla-agent", "--", "--verbose", "--x=1"]);
        for (name, _) in vars {
            // SAFETY: as above.
            unsafe { std::env::remove_var(name) };
        }
        let cli = cli.expect("parses");
        assert_eq!(cli.fleet_url.as_deref(), Some("https://fleet.example.com"));
        assert_eq!(cli.root_dir, PathBuf::from("/tmp/orbit-root"));
        assert_eq!(cli.orbit_channel, "edge");
        assert_eq!(cli.osqueryd_channel, "5.12.1");
        assert_eq!(cli.desktop_channel, "stable");
        assert_eq!(cli.update_interval, Duration::from_secs(3600));
        assert!(cli.fleet_desktop && cli.insecure && !cli.disable_updates);
        assert_eq!(cli.host_identifier, HostIdentifier::Instance);
        assert_eq!(cli.osqueryd_args, ["--verbose", "--x=1"]);
    }
}
