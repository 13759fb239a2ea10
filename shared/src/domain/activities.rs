//! INTERIM (replaced by the activities branch before landing): the interface only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::{StateStore, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    User {
        id: u64,
        name: String,
        email: String,
    },
    BreakGlass,
    Anonymous,
}

pub struct NewActivity {
    pub actor: Actor,
    pub kind: String,
    pub details: serde_json::Value,
    pub source_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: u64,
    pub created_at: DateTime<Utc>,
    pub actor: Actor,
    pub kind: String,
    pub details: serde_json::Value,
    pub source_ip: Option<String>,
}

impl Activity {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

pub async fn record(
    _store: &dyn StateStore,
    now: DateTime<Utc>,
    _retention_days: u32,
    new: NewActivity,
) -> Result<Activity, StoreError> {
    Ok(Activity {
        id: 0,
        created_at: now,
        actor: new.actor,
        kind: new.kind,
        details: new.details,
        source_ip: new.source_ip,
    })
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor_id: Option<u64>,
    pub kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("invalid cursor")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn list(
    _store: &dyn StateStore,
    _now: DateTime<Utc>,
    _retention_days: u32,
    _filter: &Filter,
    _cursor: Option<&str>,
    _limit: usize,
) -> Result<(Vec<Activity>, Option<String>), ListError> {
    Ok((Vec::new(), None))
}
