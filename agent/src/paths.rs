//! The files under the root directory, where fleetd packages and Fleet's orbit keep them.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RootDir(PathBuf);

impl RootDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RootDir(root.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The orbit node key, readable by root only.
    pub fn orbit_node_key(&self) -> PathBuf {
        self.0.join("secret-orbit-node-key.txt")
    }

    /// The Fleet Desktop token, readable by the desktop user (0644).
    pub fn device_identifier(&self) -> PathBuf {
        self.0.join("identifier")
    }

    /// CA bundle osqueryd verifies the server with (`--tls_server_certs`).
    pub fn osquery_certs(&self) -> PathBuf {
        self.0.join("certs.pem")
    }

    pub fn osquery_flagfile(&self) -> PathBuf {
        self.0.join("osquery.flags")
    }

    pub fn osquery_pidfile(&self) -> PathBuf {
        self.0.join("osquery.pid")
    }

    pub fn osquery_database(&self) -> PathBuf {
        self.0.join("osquery.db")
    }

    pub fn osquery_extensions_socket(&self) -> PathBuf {
        self.0.join("orbit-osquery.em")
    }

    /// The osquery extensions osqueryd loads (`--extensions_autoload`), one path per line.
    pub fn extensions_autoload(&self) -> PathBuf {
        self.0.join("extensions.load")
    }

    pub fn osquery_log_dir(&self) -> PathBuf {
        self.0.join("osquery_log")
    }

    /// Downloads are verified here before they are renamed into `bin/`.
    pub fn staging(&self) -> PathBuf {
        self.0.join("staging")
    }

    /// The local mirror of the update repository's targets:
    /// `bin/<component>/<platform>/<channel>/<file>`.
    pub fn bin(&self) -> PathBuf {
        self.0.join("bin")
    }

    /// The update repository's root metadata a package ships (used when no `--update-roots`).
    pub fn shipped_tuf_root(&self) -> PathBuf {
        self.0.join("tuf-root.json")
    }

    /// tough's datastore: the TUF metadata the agent last trusted.
    pub fn tuf_datastore(&self) -> PathBuf {
        self.0.join("tuf")
    }

    /// The mTLS files fleetd looks for when no flag names them.
    pub fn fleet_client_certificate(&self) -> PathBuf {
        self.0.join("fleet_client.crt")
    }

    pub fn fleet_client_key(&self) -> PathBuf {
        self.0.join("fleet_client.key")
    }

    pub fn update_client_certificate(&self) -> PathBuf {
        self.0.join("update_client.crt")
    }

    pub fn update_client_key(&self) -> PathBuf {
        self.0.join("update_client.key")
    }
}

/// The platform part of TUF target names (wire-contracts.md).
pub fn platform() -> &'static str {
    if cfg!(target_os = "macos") {
        "macos"
    } else if cfg!(target_os = "windows") {
        "windows"
    } else if cfg!(target_arch = "aarch64") {
        "linux-arm64"
    } else {
        "linux"
    }
}
