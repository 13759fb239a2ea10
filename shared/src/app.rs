//! The application: the ports, the clock and the per-instance caches, shared by every handler.

use std::ops::Deref;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::domain::app_config::ConfigCache;
use crate::domain::campaigns::AskedCache;
use crate::domain::host_auth::HostAuthCache;
use crate::domain::live::LiveState;
use crate::ports::{BlobStore, LogSink, Queue, SecretStore, StateStore};

/// One adapter for each port.
#[derive(Clone)]
pub struct Ports {
    pub state: Arc<dyn StateStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn Queue>,
    pub secrets: Arc<dyn SecretStore>,
    pub log_sink: Arc<dyn LogSink>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Name of the admin bearer token in the secret store (the secret's ARN on AWS).
    pub admin_token_secret: String,
    /// Days a carve's data is kept (the data bucket's lifecycle rule for `carves/` matches).
    pub carve_expiry_days: u32,
}

impl Settings {
    /// The name the embedded secret store uses for the admin token.
    pub const LOCAL_ADMIN_TOKEN: &'static str = "admin-token";
    pub const DEFAULT_CARVE_EXPIRY_DAYS: u32 = 30;

    /// Settings with every default but the admin token's name.
    pub fn new(admin_token_secret: impl Into<String>) -> Self {
        Settings {
            admin_token_secret: admin_token_secret.into(),
            carve_expiry_days: Self::DEFAULT_CARVE_EXPIRY_DAYS,
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
        }))
    }

    pub fn state(&self) -> &dyn StateStore {
        self.0.ports.state.as_ref()
    }
}

impl Deref for App {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}
