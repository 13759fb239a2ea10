//! What a fleetd package lays down, independent of the package format: one tree per platform
//! (wire-contracts.md, "fleetd packages"), which each format's writer turns into its archive.

pub mod linux;
pub mod macos;
mod unpack;
pub mod windows;

pub use linux::linux;
pub use macos::macos;
pub use unpack::UnpackError;
pub use windows::windows;

use crate::contents::Contents;
use crate::options::PackageOptions;

/// Where every platform but Windows installs the agent.
pub const ROOT: &str = "/opt/orbit";

/// One thing the package installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { contents: Contents, mode: u32 },
    Symlink { target: String },
}

/// An absolute path and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub node: Node,
}

/// The Linux install and removal scripts, as shell scripts (the format maps them to its hooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripts {
    pub post_install: String,
    pub pre_remove: String,
    /// Runs after removal; gets the package manager's first argument (`remove`, `purge`,
    /// `upgrade`, ... for dpkg; `0` for a last removal with rpm), which it passes on.
    pub post_remove: String,
}

pub struct Layout {
    pub entries: Vec<Entry>,
    pub scripts: Scripts,
}

pub(crate) fn file(path: impl Into<String>, contents: impl Into<Contents>, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        node: Node::File {
            contents: contents.into(),
            mode,
        },
    }
}

pub(crate) fn symlink(path: impl Into<String>, target: impl Into<String>) -> Entry {
    Entry {
        path: path.into(),
        node: Node::Symlink {
            target: target.into(),
        },
    }
}

/// The Fleet server's certificate chain, under the agent's root.
pub const FLEET_PEM: &str = "fleet.pem";

/// The mTLS identities, as `(certificate, key)` file names under the agent's root.
pub const FLEET_CLIENT: (&str, &str) = ("fleet_client.crt", "fleet_client.key");
pub const UPDATE_CLIENT: (&str, &str) = ("update_client.crt", "update_client.key");

/// The server certificate and the mTLS identities, where orbit looks for them under its root
/// (`root` ends with a separator, or is empty for paths relative to the install folder); the
/// keys are for root only.
pub(crate) fn certificate_files(options: &PackageOptions, root: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    if let Some(pem) = &options.fleet_certificate {
        entries.push(file(format!("{root}{FLEET_PEM}"), pem.clone(), 0o644));
    }
    for ((certificate_name, key_name), pair) in [
        (FLEET_CLIENT, &options.fleet_tls_client),
        (UPDATE_CLIENT, &options.update_tls_client),
    ] {
        if let Some((certificate, key)) = pair {
            entries.push(file(
                format!("{root}{certificate_name}"),
                certificate.clone(),
                0o644,
            ));
            entries.push(file(format!("{root}{key_name}"), key.clone(), 0o600));
        }
    }
    entries
}

/// orbit's settings as `ORBIT_*` variables, without the enroll secret: Linux puts these and the
/// secret in `/etc/default/orbit`; macOS puts these in the launch daemon's plist, which anyone
/// can read, and the secret in its own file.
pub(crate) fn orbit_variables(options: &PackageOptions) -> Vec<(&'static str, String)> {
    let flag = |on: bool| if on { "true" } else { "false" }.to_string();
    let mut variables = vec![
        ("ORBIT_FLEET_URL", options.fleet_url.clone()),
        ("ORBIT_UPDATE_URL", options.update_url.clone()),
        ("ORBIT_ORBIT_CHANNEL", options.orbit_channel.clone()),
        ("ORBIT_OSQUERYD_CHANNEL", options.osqueryd_channel.clone()),
        ("ORBIT_DESKTOP_CHANNEL", options.desktop_channel.clone()),
        ("ORBIT_UPDATE_INTERVAL", options.update_interval.clone()),
        ("ORBIT_FLEET_DESKTOP", flag(options.fleet_desktop)),
        ("ORBIT_INSECURE", flag(options.insecure)),
        ("ORBIT_DISABLE_UPDATES", flag(options.disable_updates)),
        ("ORBIT_DEBUG", flag(options.debug)),
        ("ORBIT_ENABLE_SCRIPTS", flag(options.enable_scripts)),
    ];
    if options.fleet_certificate.is_some() {
        variables.push(("ORBIT_FLEET_CERTIFICATE", format!("{ROOT}/fleet.pem")));
    }
    if let Some(identifier) = &options.host_identifier {
        variables.push(("ORBIT_HOST_IDENTIFIER", identifier.clone()));
    }
    if let Some(host) = &options.fleet_desktop_alternative_browser_host {
        variables.push(("ORBIT_FLEET_DESKTOP_ALTERNATIVE_BROWSER_HOST", host.clone()));
    }
    variables
}
