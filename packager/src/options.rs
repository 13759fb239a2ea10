//! What an installer is built for: `fleetctl package`'s options (the packager design's create
//! request), already validated. Holds the enroll secret: no `Debug`, never logged.

use crate::contents::Contents;

/// The agent binaries and their version, as fetched from the update repository.
pub struct Targets {
    /// The orbit target's version: the package's version.
    pub version: String,
    pub orbit: Contents,
    pub osqueryd: Contents,
    /// Fleet Desktop (the platform's archive or executable), when the package includes it.
    pub desktop: Option<Contents>,
    /// The update repository's trusted root metadata, shipped with the package.
    pub tuf_root: Vec<u8>,
}

#[derive(Clone)]
pub struct PackageOptions {
    pub fleet_url: String,
    pub enroll_secret: String,
    pub orbit_channel: String,
    pub osqueryd_channel: String,
    pub desktop_channel: String,
    pub fleet_desktop: bool,
    pub fleet_desktop_alternative_browser_host: Option<String>,
    pub insecure: bool,
    pub disable_updates: bool,
    pub debug: bool,
    pub enable_scripts: bool,
    pub host_identifier: Option<String>,
    pub update_url: String,
    /// Go-style duration, as orbit reads it (`15m`).
    pub update_interval: String,
    /// PEM of the Fleet server's certificate chain (`--fleet-certificate`).
    pub fleet_certificate: Option<Vec<u8>>,
    /// PEM client certificate and key for mTLS to Fleet.
    pub fleet_tls_client: Option<(Vec<u8>, Vec<u8>)>,
    /// PEM client certificate and key for mTLS to the update server.
    pub update_tls_client: Option<(Vec<u8>, Vec<u8>)>,
    /// osquery flagfile contents.
    pub osquery_flagfile: Option<Vec<u8>>,
    /// Install the systemd unit and start it (`--service`, default true).
    pub service: bool,
}

impl PackageOptions {
    /// The defaults of `fleetctl package` for this URL and secret.
    pub fn new(fleet_url: impl Into<String>, enroll_secret: impl Into<String>) -> Self {
        PackageOptions {
            fleet_url: fleet_url.into(),
            enroll_secret: enroll_secret.into(),
            orbit_channel: "stable".into(),
            osqueryd_channel: "stable".into(),
            desktop_channel: "stable".into(),
            fleet_desktop: false,
            fleet_desktop_alternative_browser_host: None,
            insecure: false,
            disable_updates: false,
            debug: false,
            enable_scripts: false,
            host_identifier: None,
            update_url: "https://tuf.fleetctl.com".into(),
            update_interval: "15m".into(),
            fleet_certificate: None,
            fleet_tls_client: None,
            update_tls_client: None,
            osquery_flagfile: None,
            service: true,
        }
    }
}
