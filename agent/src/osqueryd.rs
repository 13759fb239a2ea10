//! The flags an orbit-like agent starts osqueryd with (wire-contracts.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cli::HostIdentifier;
use crate::paths::RootDir;

/// What the flags are built from.
pub struct FlagInputs<'a> {
    pub root: &'a RootDir,
    pub fleet_url: &'a str,
    pub host_identifier: HostIdentifier,
    /// `--fleet-certificate`, else `<root>/certs.pem` when it exists.
    pub server_certs: Option<PathBuf>,
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// `<root>/extensions.load`, when it lists extensions.
    pub extensions_autoload: Option<PathBuf>,
    /// `command_line_startup_flags` from the orbit config.
    pub startup_flags: &'a BTreeMap<String, String>,
    /// What came after `--` on the agent's command line.
    pub extra_args: &'a [String],
}

/// `host[:port]` and the path prefix of the Fleet URL.
fn split_url(fleet_url: &str) -> (String, String) {
    let without_scheme = fleet_url
        .split_once("://")
        .map_or(fleet_url, |(_, rest)| rest);
    let (host, path) = without_scheme
        .split_once('/')
        .map_or((without_scheme, ""), |(host, path)| (host, path));
    let prefix = path.trim_end_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("/{prefix}")
    };
    (host.to_string(), prefix)
}

pub fn flags(inputs: &FlagInputs<'_>) -> Vec<String> {
    let (host, prefix) = split_url(inputs.fleet_url);
    let root = inputs.root;
    let endpoint = |path: &str| format!("{prefix}/api/v1/osquery/{path}");
    let identifier = match inputs.host_identifier {
        HostIdentifier::Uuid => "uuid",
        HostIdentifier::Instance => "instance",
    };
    let mut flags = vec![
        format!("--host_identifier={identifier}"),
        format!("--tls_hostname={host}"),
        format!("--enroll_tls_endpoint={}", endpoint("enroll")),
        "--enroll_secret_env=ENROLL_SECRET".to_string(),
        "--config_plugin=tls".to_string(),
        format!("--config_tls_endpoint={}", endpoint("config")),
        "--config_refresh=60".to_string(),
        "--disable_distributed=false".to_string(),
        "--distributed_plugin=tls".to_string(),
        "--distributed_tls_max_attempts=10".to_string(),
        format!(
            "--distributed_tls_read_endpoint={}",
            endpoint("distributed/read")
        ),
        format!(
            "--distributed_tls_write_endpoint={}",
            endpoint("distributed/write")
        ),
        "--logger_plugin=tls".to_string(),
        format!("--logger_tls_endpoint={}", endpoint("log")),
        "--disable_carver=false".to_string(),
        "--carver_disable_function=false".to_string(),
        format!("--carver_start_endpoint={}", endpoint("carve/begin")),
        format!("--carver_continue_endpoint={}", endpoint("carve/block")),
        "--carver_block_size=2000000".to_string(),
    ];
    if let Some(certs) = &inputs.server_certs {
        flags.push(format!("--tls_server_certs={}", certs.display()));
    }
    if let Some((certificate, key)) = &inputs.client_identity {
        flags.push(format!("--tls_client_cert={}", certificate.display()));
        flags.push(format!("--tls_client_key={}", key.display()));
    }
    flags.extend([
        format!("--pidfile={}", root.osquery_pidfile().display()),
        format!("--database_path={}", root.osquery_database().display()),
        format!(
            "--extensions_socket={}",
            root.osquery_extensions_socket().display()
        ),
        format!("--logger_path={}", root.osquery_log_dir().display()),
    ]);
    if let Some(autoload) = &inputs.extensions_autoload {
        flags.push(format!("--extensions_autoload={}", autoload.display()));
    }
    if root.osquery_flagfile().exists() {
        flags.push(format!("--flagfile={}", root.osquery_flagfile().display()));
    }
    flags.push("--force".to_string());
    for (name, value) in inputs.startup_flags {
        let name = name.trim_start_matches('-');
        flags.push(format!("--{name}={value}"));
    }
    flags.extend(inputs.extra_args.iter().cloned());
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_carry_the_url_prefix_and_the_files() {
        let root = RootDir::new("/opt/orbit");
        let startup = BTreeMap::from([("verbose".to_string(), "true".to_string())]);
        let extra = ["--logger_min_status=1".to_string()];
        let flags = flags(&FlagInputs {
            root: &root,
            fleet_url: "https://fleet.example.com:8443/prefix/",
            host_identifier: HostIdentifier::Instance,
            server_certs: Some(PathBuf::from("/opt/orbit/certs.pem")),
            client_identity: Some((
                PathBuf::from("/opt/orbit/fleet_client.crt"),
                PathBuf::from("/opt/orbit/fleet_client.key"),
            )),
            extensions_autoload: Some(PathBuf::from("/opt/orbit/extensions.load")),
            startup_flags: &startup,
            extra_args: &extra,
        });
        for expected in [
            "--host_identifier=instance",
            "--tls_hostname=fleet.example.com:8443",
            "--enroll_tls_endpoint=/prefix/api/v1/osquery/enroll",
            "--enroll_secret_env=ENROLL_SECRET",
            "--config_tls_endpoint=/prefix/api/v1/osquery/config",
            "--distributed_tls_read_endpoint=/prefix/api/v1/osquery/distributed/read",
            "--logger_tls_endpoint=/prefix/api/v1/osquery/log",
            "--carver_continue_endpoint=/prefix/api/v1/osquery/carve/block",
            "--tls_server_certs=/opt/orbit/certs.pem",
            "--tls_client_cert=/opt/orbit/fleet_client.crt",
            "--pidfile=/opt/orbit/osquery.pid",
            "--database_path=/opt/orbit/osquery.db",
            "--extensions_socket=/opt/orbit/orbit-osquery.em",
            "--extensions_autoload=/opt/orbit/extensions.load",
            "--force",
        ] {
            assert!(
                flags.iter().any(|f| f == expected),
                "{expected} in {flags:?}"
            );
        }
        // Server-pushed flags, then the operator's own, last (they win in osquery).
        assert_eq!(
            &flags[flags.len() - 2..],
            ["--verbose=true", "--logger_min_status=1"]
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080"),
            ("127.0.0.1:8080".to_string(), String::new())
        );
    }
}
