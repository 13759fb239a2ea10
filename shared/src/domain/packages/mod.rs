//! The packager service (fleet-installers-packager-design.md): `create` records a package and
//! queues its build, the worker builds it from the update repository's targets, `status` and
//! `download` answer for it until it expires, and the sweep deletes what expired.
//!
//! What holds the enroll secret: the build's arguments (`packages/<id>/request.json`) and the
//! installer (`packages/<id>/<file>`), both in the blob store, both deleted at expiry. The state
//! table keeps only the record below and a keyed hash of the arguments for deduplication.

pub mod build;
pub mod create;
pub mod dedupe;
pub mod notarize;
pub mod request;
pub mod signing;
pub mod status;
pub mod sweep;
pub mod targets;

use serde::{Deserialize, Serialize};

use super::layout;
use crate::ports::{Cond, Item, StateStore, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Queued,
    FetchingTargets,
    Building,
    Signing,
    Notarizing,
    Uploading,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Queued => "queued",
            Stage::FetchingTargets => "fetching-targets",
            Stage::Building => "building",
            Stage::Signing => "signing",
            Stage::Notarizing => "notarizing",
            Stage::Uploading => "uploading",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Progress {
    InProgress { stage: Stage },
    Success { file_name: String, size: u64 },
    Failed { logs: String },
}

/// One package, as the state table holds it (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub progress: Progress,
    pub created_at: i64,
    /// When the stage last changed: a build that stops moving has died with its worker.
    pub updated_at: i64,
    pub expires_at: i64,
    /// The keyed hash of the build's arguments.
    pub dedupe: String,
    /// Set once the sweep has deleted the package's blobs.
    #[serde(default)]
    pub swept: bool,
    /// Set when the installer is stored and submitted to Apple's notary service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notarization: Option<Notarization>,
}

/// A stored installer waiting for Apple's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notarization {
    pub submission_id: String,
    pub file_name: String,
    pub size: u64,
    pub submitted_at: i64,
}

/// How long after expiry `status` still answers `expired` (then the record is gone: 404).
pub const RECORD_KEPT_AFTER_EXPIRY_SECS: i64 = 86_400;

/// An in-progress stage older than this means the worker died (Lambda timeout, crash); the
/// worker's timeout is 5 minutes and SQS tries it 3 times.
pub const STALLED_AFTER_SECS: i64 = 20 * 60;

pub const BLOB_PREFIX: &str = "packages/";

impl Package {
    /// Everything a package leaves in the blob store is under this prefix.
    pub fn blob_prefix(id: &str) -> String {
        format!("{BLOB_PREFIX}{id}/")
    }

    pub fn request_blob(id: &str) -> String {
        Self::blob_prefix(id) + "request.json"
    }

    pub fn file_blob(&self, file_name: &str) -> String {
        Self::blob_prefix(&self.id) + file_name
    }

    pub fn expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    pub fn item(&self) -> Result<Item, StoreError> {
        let mut item = Item::encode(layout::package(&self.id), self)?
            .with_expiry(self.expires_at + RECORD_KEPT_AFTER_EXPIRY_SECS);
        if !self.swept {
            item = item.with_gsi1(layout::packages_by_expiry(self.expires_at, &self.id));
        }
        Ok(item)
    }
}

/// The package and its item version.
pub async fn load(store: &dyn StateStore, id: &str) -> Result<Option<(Package, u64)>, StoreError> {
    match store.get(&layout::package(id)).await? {
        Some(item) => Ok(Some((item.decode()?, item.version))),
        None => Ok(None),
    }
}

/// Rewrites the record if nobody else changed it since `version` was read.
pub async fn save(
    store: &dyn StateStore,
    package: &Package,
    version: u64,
) -> Result<(), StoreError> {
    crate::ports::state::put(store, package.item()?, Cond::Version(version)).await
}

/// A package id is a UUID; anything else cannot name a package (and must not reach a key).
pub fn parse_id(raw: &str) -> Result<String, crate::error::ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| {
            crate::error::ApiError::bad_request(format!("package_id must be a UUID: {raw:?}"))
        })
}

/// The package, or 404.
pub async fn find(store: &dyn StateStore, id: &str) -> Result<Package, crate::error::ApiError> {
    load(store, id)
        .await?
        .map(|(package, _)| package)
        .ok_or_else(|| crate::error::ApiError::not_found(format!("no package {id}")))
}

/// The package a dedupe entry points at.
pub fn deduped_package(item: &Item) -> &str {
    item.data["package_id"].as_str().unwrap_or_default()
}

impl Package {
    pub fn kind(&self) -> Option<packager::kind::PackageType> {
        packager::kind::PackageType::parse(&self.kind)
    }
}
