//! The deployment-wide settings (Fleet's "app config"): global agent options, org info, the
//! installers' default update channels, and the per-instance cache the config endpoint reads
//! them through.

use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use super::identity::audit::{self, ActedBy};
use super::packages::request::check_channel;
use super::scheduled_queries::{self, ScheduledQuery};
use super::{agent_options, layout, records, teams};
use crate::app::AppInner;
use crate::error::ApiError;
use crate::ports::{StateStore, StoreError};

/// How stale the config an agent receives may be after an admin change.
pub const CONFIG_CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgInfo {
    #[serde(default)]
    pub org_name: String,
    #[serde(default)]
    pub org_logo_url: String,
    #[serde(default)]
    pub contact_url: String,
}

impl Default for OrgInfo {
    fn default() -> Self {
        OrgInfo {
            org_name: "Flotilla".into(),
            org_logo_url: String::new(),
            // None until an admin sets one: Fleet's default sends employees to fleetdm.com.
            contact_url: String::new(),
        }
    }
}

/// The update channels an installer's agent follows when its create request names none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultChannels {
    #[serde(default = "stable")]
    pub orbit: String,
    #[serde(default = "stable")]
    pub osqueryd: String,
    #[serde(default = "stable")]
    pub desktop: String,
}

fn stable() -> String {
    "stable".into()
}

impl Default for DefaultChannels {
    fn default() -> Self {
        DefaultChannels {
            orbit: stable(),
            osqueryd: stable(),
            desktop: stable(),
        }
    }
}

/// The packager's deployment-wide defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagerConfig {
    #[serde(default)]
    pub default_channels: DefaultChannels,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppConfig {
    pub agent_options: Value,
    #[serde(default)]
    pub org_info: OrgInfo,
    #[serde(default)]
    pub packager: PackagerConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            agent_options: agent_options::default_options(),
            org_info: OrgInfo::default(),
            packager: PackagerConfig::default(),
        }
    }
}

pub async fn load(store: &dyn StateStore) -> Result<AppConfig, StoreError> {
    match store.get(&layout::app_config()).await? {
        Some(item) => item.decode(),
        None => Ok(AppConfig::default()),
    }
}

/// A partial update, as `PATCH /api/v1/fleet/config` sends it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfigPatch {
    pub agent_options: Option<Value>,
    pub org_info: Option<OrgInfoPatch>,
    pub packager: Option<PackagerConfigPatch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagerConfigPatch {
    pub default_channels: Option<DefaultChannelsPatch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultChannelsPatch {
    pub orbit: Option<String>,
    pub osqueryd: Option<String>,
    pub desktop: Option<String>,
}

/// Each channel given, checked as the packager checks a request's.
fn check_channels(patch: &mut DefaultChannelsPatch) -> Result<(), ApiError> {
    for (name, value) in [
        ("packager.default_channels.orbit", &mut patch.orbit),
        ("packager.default_channels.osqueryd", &mut patch.osqueryd),
        ("packager.default_channels.desktop", &mut patch.desktop),
    ] {
        if let Some(given) = value.take() {
            *value = Some(check_channel(name, given.trim().to_string())?);
        }
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgInfoPatch {
    pub org_name: Option<String>,
    pub org_logo_url: Option<String>,
    pub contact_url: Option<String>,
}

pub async fn patch(
    store: &dyn StateStore,
    mut patch: AppConfigPatch,
) -> Result<AppConfig, ApiError> {
    if let Some(options) = &patch.agent_options {
        agent_options::validate(options)?;
    }
    if let Some(channels) = patch
        .packager
        .as_mut()
        .and_then(|p| p.default_channels.as_mut())
    {
        check_channels(channels)?;
    }
    records::update(
        store,
        &layout::app_config(),
        None,
        |current: Option<AppConfig>| {
            let mut config = current.unwrap_or_default();
            if let Some(options) = &patch.agent_options {
                config.agent_options = options.clone();
            }
            if let Some(org) = &patch.org_info {
                if let Some(name) = &org.org_name {
                    config.org_info.org_name = name.clone();
                }
                if let Some(url) = &org.org_logo_url {
                    config.org_info.org_logo_url = url.clone();
                }
                if let Some(url) = &org.contact_url {
                    config.org_info.contact_url = url.clone();
                }
            }
            if let Some(channels) = patch
                .packager
                .as_ref()
                .and_then(|p| p.default_channels.as_ref())
            {
                let current = &mut config.packager.default_channels;
                for (given, field) in [
                    (&channels.orbit, &mut current.orbit),
                    (&channels.osqueryd, &mut current.osqueryd),
                    (&channels.desktop, &mut current.desktop),
                ] {
                    if let Some(given) = given {
                        field.clone_from(given);
                    }
                }
            }
            Ok(config)
        },
    )
    .await
}

/// An admin's change, whatever asks (the JSON API or the admin UI), recorded in the activity
/// log (`edited_agent_options` when it touches them, else `edited_app_config`).
pub async fn save(
    app: &AppInner,
    by: &ActedBy<'_>,
    change: AppConfigPatch,
) -> Result<AppConfig, ApiError> {
    let kind = if change.agent_options.is_some() {
        "edited_agent_options"
    } else {
        "edited_app_config"
    };
    let config = patch(app.state(), change).await?;
    audit::record(
        app,
        by.actor.clone(),
        kind,
        serde_json::json!({"global": true}),
        by.source_ip,
    )
    .await?;
    Ok(config)
}

/// Replaces the global agent options (validated first); with `reviewed`, only if they are
/// still those it fingerprints, else 409 (`agent_options::check_reviewed`).
pub async fn set_agent_options(
    store: &dyn StateStore,
    options: Value,
    reviewed: Option<&str>,
) -> Result<AppConfig, ApiError> {
    agent_options::validate(&options)?;
    records::update(
        store,
        &layout::app_config(),
        None,
        |current: Option<AppConfig>| {
            let mut config = current.unwrap_or_default();
            agent_options::check_reviewed(Some(&config.agent_options), reviewed)?;
            config.agent_options = options.clone();
            Ok(config)
        },
    )
    .await
}

/// What the config endpoint needs, cached per instance for `CONFIG_CACHE_TTL`, so that
/// config polling (Fleet's largest egress) costs no store call on a warm instance. Ages are
/// measured on the app's clock, so tests move time instead of sleeping.
pub struct ConfigCache {
    app: Cache<(), Timed<AppConfig>>,
    team_options: Cache<u64, Timed<Option<Value>>>,
    queries: Cache<(), Timed<Vec<ScheduledQuery>>>,
}

type Timed<V> = (i64, Arc<V>);

impl Default for ConfigCache {
    fn default() -> Self {
        ConfigCache {
            app: Cache::new(1),
            team_options: Cache::new(10_000),
            queries: Cache::new(1),
        }
    }
}

fn fresh<V>(entry: Option<Timed<V>>, now_ms: i64) -> Option<Arc<V>> {
    let ttl_ms = CONFIG_CACHE_TTL.as_millis() as i64;
    entry
        .filter(|(at, _)| now_ms >= *at && now_ms - *at < ttl_ms)
        .map(|(_, value)| value)
}

impl ConfigCache {
    pub async fn app_config(
        &self,
        store: &dyn StateStore,
        now_ms: i64,
    ) -> Result<Arc<AppConfig>, StoreError> {
        if let Some(hit) = fresh(self.app.get(&()), now_ms) {
            return Ok(hit);
        }
        let value = Arc::new(load(store).await?);
        self.app.insert((), (now_ms, value.clone()));
        Ok(value)
    }

    pub async fn team_options(
        &self,
        store: &dyn StateStore,
        team_id: u64,
        now_ms: i64,
    ) -> Result<Arc<Option<Value>>, StoreError> {
        if let Some(hit) = fresh(self.team_options.get(&team_id), now_ms) {
            return Ok(hit);
        }
        let options = teams::get(store, team_id)
            .await?
            .and_then(|team| team.agent_options);
        let value = Arc::new(options);
        self.team_options.insert(team_id, (now_ms, value.clone()));
        Ok(value)
    }

    pub async fn scheduled_queries(
        &self,
        store: &dyn StateStore,
        now_ms: i64,
    ) -> Result<Arc<Vec<ScheduledQuery>>, StoreError> {
        if let Some(hit) = fresh(self.queries.get(&()), now_ms) {
            return Ok(hit);
        }
        let value = Arc::new(scheduled_queries::list(store).await?);
        self.queries.insert((), (now_ms, value.clone()));
        Ok(value)
    }
}
