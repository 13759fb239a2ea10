//! The application: the ports, the clock and the per-instance caches, shared by every handler.

use std::ops::Deref;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::domain::app_config::ConfigCache;
use crate::domain::campaigns::AskedCache;
use crate::domain::host_auth::HostAuthCache;
use crate::domain::identity::oidc::ProviderCache;
use crate::domain::identity::principal::UserCache;
use crate::domain::identity::sessions::SessionPolicy;
use crate::domain::live::LiveState;
use crate::domain::packages::targets::RepositoryCache;
use crate::ports::{BlobStore, LogSink, Queue, SecretStore, StateStore};

/// One adapter for each port.
#[derive(Clone)]
pub struct Ports {
    pub state: Arc<dyn StateStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn Queue>,
    /// Package builds (their own queue and worker on AWS; the same queue locally).
    pub packager_queue: Arc<dyn Queue>,
    pub secrets: Arc<dyn SecretStore>,
    pub log_sink: Arc<dyn LogSink>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Name of the admin bearer token in the secret store (the secret's ARN on AWS).
    pub admin_token_secret: String,
    /// Days a carve's data is kept (the data bucket's lifecycle rule for `carves/` matches).
    pub carve_expiry_days: u32,
    pub packager: PackagerSettings,
    /// The API's public base URL (for `packager_url` and download links); when unset it is
    /// taken from each request's Host and X-Forwarded-Proto.
    pub public_url: Option<String>,
    /// The certificate chain (PEM) the server presents, when agents must be told to trust it
    /// (flotilla-local serving HTTPS; on AWS API Gateway's public certificate needs none).
    pub server_certificate: Option<String>,
    pub identity: IdentitySettings,
    /// How long `POST /api/v1/fleet/hosts/{id}/query` waits for the host's answer (Fleet's
    /// default, 25 s). The admin function's timeout must exceed it (template.yaml: 29 s, under
    /// API Gateway's 30 s limit).
    pub host_query_wait: std::time::Duration,
}

/// Admin accounts: session lifetimes, API token expiry, the activity log's retention, SSO.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub sessions: SessionPolicy,
    /// Days an API-only user's token lasts unless `never` is asked for.
    pub api_token_days: u32,
    pub activity_retention_days: u32,
    /// Name of the OpenID Connect client secret in the secret store (single sign-on).
    pub sso_client_secret: Option<String>,
}

impl IdentitySettings {
    pub const DEFAULT_API_TOKEN_DAYS: u32 = 90;
    pub const DEFAULT_ACTIVITY_RETENTION_DAYS: u32 = 365;
    /// The name the embedded secret store uses for the SSO client secret.
    pub const LOCAL_SSO_CLIENT_SECRET: &'static str = "sso-client-secret";
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            sessions: SessionPolicy::default(),
            api_token_days: Self::DEFAULT_API_TOKEN_DAYS,
            activity_retention_days: Self::DEFAULT_ACTIVITY_RETENTION_DAYS,
            sso_client_secret: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PackagerSettings {
    /// Minutes a package can be downloaded before it is deleted.
    pub expiry_minutes: u32,
    /// The update repository targets come from, unless a request names another.
    pub update_url: String,
    /// That repository's trusted root.json, unless a request brings its own.
    pub update_root: Option<String>,
    /// Name of the key for the arguments' keyed hash in the secret store.
    pub key_secret: String,
    /// Name of the secret holding the Developer ID Installer identity (PEM: certificate chain
    /// and PKCS#8 key) that signs .pkg installers; unsigned without it.
    pub signing_secret: Option<String>,
    /// The RFC 3161 server that countersigns .pkg signatures (none: no timestamp).
    pub timestamp_url: Option<String>,
    /// Name of the secret holding App Store Connect API credentials (JSON) that notarize
    /// signed .pkg installers; not notarized without it.
    pub notary_secret: Option<String>,
    /// The Notary API's root.
    pub notary_url: String,
    /// An S3 endpoint for the notarization upload instead of AWS's (a stand-in's, in tests).
    pub notary_upload_endpoint: Option<String>,
    /// How long to wait between questions to the notary service.
    pub notary_poll: std::time::Duration,
}

impl PackagerSettings {
    pub const DEFAULT_EXPIRY_MINUTES: u32 = 30;
    pub const DEFAULT_UPDATE_URL: &'static str = "https://updates.fleetdm.com";
    /// The name the embedded secret store uses for the dedupe key.
    pub const LOCAL_KEY: &'static str = "packager-key";
    /// The names the embedded secret store uses for the signing identity and notary credentials.
    pub const LOCAL_SIGNING_IDENTITY: &'static str = "packager-signing-identity";
    pub const LOCAL_NOTARY_CREDENTIALS: &'static str = "packager-notary-credentials";
    pub const DEFAULT_NOTARY_POLL: std::time::Duration = std::time::Duration::from_secs(30);

    /// Sets the time-stamp server from a flag or variable: a URL, or "none" for no timestamp.
    pub fn set_timestamp_url(&mut self, value: &str) {
        self.timestamp_url = (value != "none").then(|| value.to_string());
    }

    /// Notarization needs a signed package: Apple refuses unsigned installers.
    pub fn check(&self) -> Result<(), String> {
        if self.notary_secret.is_some() && self.signing_secret.is_none() {
            return Err("notarization needs a signing identity (Apple notarizes only Developer ID-signed packages)".into());
        }
        Ok(())
    }
}

impl Default for PackagerSettings {
    fn default() -> Self {
        PackagerSettings {
            expiry_minutes: Self::DEFAULT_EXPIRY_MINUTES,
            update_url: Self::DEFAULT_UPDATE_URL.to_string(),
            update_root: None,
            key_secret: Self::LOCAL_KEY.to_string(),
            signing_secret: None,
            timestamp_url: Some(packager::pkg::sign::APPLE_TIMESTAMP_URL.to_string()),
            notary_secret: None,
            notary_url: packager::notary::APPLE_NOTARY_URL.to_string(),
            notary_upload_endpoint: None,
            notary_poll: Self::DEFAULT_NOTARY_POLL,
        }
    }
}

impl Settings {
    /// The name the embedded secret store uses for the admin token.
    pub const LOCAL_ADMIN_TOKEN: &'static str = "admin-token";
    pub const DEFAULT_CARVE_EXPIRY_DAYS: u32 = 30;
    pub const DEFAULT_HOST_QUERY_WAIT: std::time::Duration = std::time::Duration::from_secs(25);
    /// The longest wait the admin function's 29 s timeout leaves room for.
    pub const MAX_HOST_QUERY_WAIT_SECS: u32 = 27;

    /// Settings with every default but the admin token's name.
    pub fn new(admin_token_secret: impl Into<String>) -> Self {
        Settings {
            admin_token_secret: admin_token_secret.into(),
            carve_expiry_days: Self::DEFAULT_CARVE_EXPIRY_DAYS,
            packager: PackagerSettings::default(),
            public_url: None,
            server_certificate: None,
            identity: IdentitySettings::default(),
            host_query_wait: Self::DEFAULT_HOST_QUERY_WAIT,
        }
    }
}

pub struct AppInner {
    pub ports: Ports,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub live: LiveState,
    pub host_auth: HostAuthCache,
    pub config_cache: ConfigCache,
    pub asked: AskedCache,
    pub update_repositories: RepositoryCache,
    pub identity: IdentityCaches,
}

/// Per-instance caches of the identity layer.
#[derive(Default)]
pub struct IdentityCaches {
    pub users: UserCache,
    /// Identity providers' metadata and keys.
    pub oidc: ProviderCache,
}

impl AppInner {
    pub fn state(&self) -> &dyn StateStore {
        self.ports.state.as_ref()
    }
}

/// Cheap to clone; one per process (one per warm Lambda instance).
#[derive(Clone)]
pub struct App(Arc<AppInner>);

impl App {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        Self::with_clock(ports, settings, Arc::new(SystemClock))
    }

    pub fn with_clock(ports: Ports, settings: Settings, clock: Arc<dyn Clock>) -> Self {
        App(Arc::new(AppInner {
            ports,
            clock,
            settings,
            live: LiveState::default(),
            host_auth: HostAuthCache::default(),
            config_cache: ConfigCache::default(),
            asked: AskedCache::default(),
            update_repositories: RepositoryCache::default(),
            identity: IdentityCaches::default(),
        }))
    }
}

impl Deref for App {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::PackagerSettings;

    #[test]
    fn notarization_without_a_signing_identity_is_refused() {
        let mut settings = PackagerSettings::default();
        assert!(settings.check().is_ok());
        settings.notary_secret = Some("notary".into());
        assert!(settings.check().is_err());
        settings.signing_secret = Some("signing".into());
        assert!(settings.check().is_ok());
    }
}
