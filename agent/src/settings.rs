//! The command line turned into what the agent runs with: the enroll secret read, the mTLS
//! files found (flags, else the files fleetd places under the root directory), the trusted
//! TUF root chosen.

use std::path::PathBuf;

use crate::cli::{Cli, HostIdentifier};
use crate::paths::RootDir;
use crate::tls::TlsOptions;

/// The TUF root built into the agent: the root.json text in `FLOTILLA_AGENT_UPDATE_ROOT_JSON`
/// at build time. None when the build did not provide one (then `--update-roots` must).
const BUILT_IN_UPDATE_ROOT: Option<&str> = option_env!("FLOTILLA_AGENT_UPDATE_ROOT_JSON");

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("--fleet-url (ORBIT_FLEET_URL) is required")]
    NoFleetUrl,
    #[error("--fleet-url must start with https:// or http://")]
    BadFleetUrl,
    #[error("an enroll secret is required: --enroll-secret-path or --enroll-secret")]
    NoEnrollSecret,
    #[error("cannot read the enroll secret file {0}: {1}")]
    EnrollSecretFile(PathBuf, std::io::Error),
    #[error("{0} is set without {1}")]
    HalfIdentity(&'static str, &'static str),
}

/// No Debug: it holds the enroll secret, which must never reach a log.
#[derive(Clone)]
pub struct Settings {
    pub fleet_url: String,
    /// Never logged.
    pub enroll_secret: String,
    pub root: RootDir,
    pub fleet_tls: TlsOptions,
    pub update_tls: TlsOptions,
    pub update_url: String,
    /// root.json of the update repository; `None`: updates cannot be verified, so are off.
    pub update_root: Option<Vec<u8>>,
    pub updates_enabled: bool,
    pub update_interval: std::time::Duration,
    pub config_interval: std::time::Duration,
    pub host_identifier: HostIdentifier,
    pub fleet_desktop: bool,
    pub desktop_browser_host: Option<String>,
    pub channels: Channels,
    pub osqueryd_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    pub orbit: String,
    pub osqueryd: String,
    pub desktop: String,
}

/// A certificate/key pair from the flags, else from `<root>` when both files exist there.
fn identity(
    certificate: &Option<PathBuf>,
    key: &Option<PathBuf>,
    names: (&'static str, &'static str),
    default: (PathBuf, PathBuf),
) -> Result<Option<(PathBuf, PathBuf)>, SettingsError> {
    match (certificate, key) {
        (Some(certificate), Some(key)) => Ok(Some((certificate.clone(), key.clone()))),
        (Some(_), None) => Err(SettingsError::HalfIdentity(names.0, names.1)),
        (None, Some(_)) => Err(SettingsError::HalfIdentity(names.1, names.0)),
        (None, None) => Ok((default.0.is_file() && default.1.is_file()).then_some(default)),
    }
}

impl Settings {
    pub fn from_cli(cli: &Cli) -> Result<Settings, SettingsError> {
        let fleet_url = cli
            .fleet_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .ok_or(SettingsError::NoFleetUrl)?
            .trim_end_matches('/')
            .to_string();
        if !(fleet_url.starts_with("https://") || fleet_url.starts_with("http://")) {
            return Err(SettingsError::BadFleetUrl);
        }
        let enroll_secret = match (&cli.enroll_secret_path, &cli.enroll_secret) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|e| SettingsError::EnrollSecretFile(path.clone(), e))?
                .trim()
                .to_string(),
            (None, Some(secret)) => secret.trim().to_string(),
            (None, None) => String::new(),
        };
        if enroll_secret.is_empty() {
            return Err(SettingsError::NoEnrollSecret);
        }
        let root = RootDir::new(&cli.root_dir);
        let fleet_identity = identity(
            &cli.fleet_tls_client_certificate,
            &cli.fleet_tls_client_key,
            ("--fleet-tls-client-certificate", "--fleet-tls-client-key"),
            (root.fleet_client_certificate(), root.fleet_client_key()),
        )?;
        let update_identity = identity(
            &cli.update_tls_client_certificate,
            &cli.update_tls_client_key,
            ("--update-tls-client-certificate", "--update-tls-client-key"),
            (root.update_client_certificate(), root.update_client_key()),
        )?;
        // The flag, else the root a package installed, else the one built in.
        let update_root = cli
            .update_roots
            .as_ref()
            .map(|json| json.as_bytes().to_vec())
            .or_else(|| std::fs::read(root.shipped_tuf_root()).ok())
            .or_else(|| BUILT_IN_UPDATE_ROOT.map(|json| json.as_bytes().to_vec()));
        Ok(Settings {
            fleet_tls: TlsOptions {
                extra_roots: cli.fleet_certificate.clone(),
                client_identity: fleet_identity,
                insecure: cli.insecure,
            },
            update_tls: TlsOptions {
                extra_roots: None,
                client_identity: update_identity,
                insecure: cli.insecure,
            },
            fleet_url,
            enroll_secret,
            update_url: cli.update_url.trim_end_matches('/').to_string(),
            updates_enabled: !cli.disable_updates && update_root.is_some(),
            update_root,
            update_interval: cli.update_interval,
            config_interval: cli.orbit_config_interval,
            host_identifier: cli.host_identifier,
            fleet_desktop: cli.fleet_desktop,
            desktop_browser_host: cli.fleet_desktop_alternative_browser_host.clone(),
            channels: Channels {
                orbit: cli.orbit_channel.clone(),
                osqueryd: cli.osqueryd_channel.clone(),
                desktop: cli.desktop_channel.clone(),
            },
            osqueryd_args: cli.osqueryd_args.clone(),
            root,
        })
    }

    /// The CA bundle osqueryd verifies the server with.
    pub fn osquery_server_certs(&self) -> Option<PathBuf> {
        self.fleet_tls.extra_roots.clone().or_else(|| {
            let bundled = self.root.osquery_certs();
            bundled.is_file().then_some(bundled)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Flags for everything the `cli` test may set through `ORBIT_*` variables meanwhile.
    fn base_args(root: &std::path::Path) -> Vec<String> {
        let secret = root.join("secret.txt");
        std::fs::write(&secret, "s3cret\n").expect("secret file");
        vec![
            "flotilla-agent".to_string(),
            "--fleet-url=https://fleet.example.com".into(),
            format!("--enroll-secret-path={}", secret.display()),
            format!("--root-dir={}", root.display()),
        ]
    }

    fn settings(root: &std::path::Path, extra: &[&str]) -> Settings {
        let mut args = base_args(root);
        args.extend(extra.iter().map(|a| a.to_string()));
        Settings::from_cli(&Cli::try_parse_from(args).expect("flags")).expect("settings")
    }

    #[test]
    fn the_update_root_comes_from_the_flag_else_the_shipped_file() {
        let dir = std::env::temp_dir().join(format!("agent-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let without = settings(&dir, &[]);
        assert_eq!(without.update_root, None);
        assert!(!without.updates_enabled, "nothing to verify updates with");

        std::fs::write(dir.join("tuf-root.json"), b"{\"shipped\":1}").expect("root file");
        let shipped = settings(&dir, &[]);
        assert_eq!(
            shipped.update_root.as_deref(),
            Some(&b"{\"shipped\":1}"[..])
        );
        assert!(shipped.updates_enabled);

        let flagged = settings(&dir, &["--update-roots={\"flag\":1}"]);
        assert_eq!(flagged.update_root.as_deref(), Some(&b"{\"flag\":1}"[..]));
        let disabled = settings(&dir, &["--disable-updates"]);
        assert!(!disabled.updates_enabled);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let dir = std::env::temp_dir().join(format!("agent-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut args = base_args(&dir);
        args.push("--fleet-tls-client-certificate=/x.crt".into());
        let cli = Cli::try_parse_from(args.clone()).expect("flags");
        assert!(matches!(
            Settings::from_cli(&cli),
            Err(SettingsError::HalfIdentity(..))
        ));
        args.push("--fleet-tls-client-key=/x.key".into());
        let cli = Cli::try_parse_from(args).expect("flags");
        let settings = Settings::from_cli(&cli).expect("settings");
        assert_eq!(
            settings.fleet_tls.client_identity,
            Some(("/x.crt".into(), "/x.key".into()))
        );
        assert_eq!(
            settings.enroll_secret, "s3cret",
            "read from the file, trimmed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
