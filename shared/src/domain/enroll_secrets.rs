//! Enroll secrets: several global ones and several per team. The secret decides the team.
//! Items are keyed by the secret's hash (so enroll is one key lookup) and listed per scope
//! through GSI1. The value itself is kept because admins read it back, as in Fleet.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

use super::credentials::{random_secret, sha256_hex};
use super::layout;
use crate::error::ApiError;
use crate::ports::state::gsi1_records;
use crate::ports::{Cond, Item, StateStore, StoreError, WriteOp};

pub const MAX_SECRETS_PER_SCOPE: usize = 50;
const MAX_SECRET_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollSecret {
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub team_id: Option<u64>,
}

fn scope(team_id: Option<u64>) -> String {
    team_id.map_or_else(|| "global".to_string(), |id| format!("team-{id}"))
}

/// The secret's record, if it is a current enroll secret.
pub async fn find(
    store: &dyn StateStore,
    secret: &str,
) -> Result<Option<EnrollSecret>, StoreError> {
    if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
        return Ok(None);
    }
    match store
        .get(&layout::enroll_secret(&sha256_hex(secret)))
        .await?
    {
        Some(item) => item.decode().map(Some),
        None => Ok(None),
    }
}

pub async fn list(
    store: &dyn StateStore,
    team_id: Option<u64>,
) -> Result<Vec<EnrollSecret>, StoreError> {
    let mut secrets: Vec<EnrollSecret> =
        gsi1_records(store, &format!("ESECRETS#{}", scope(team_id))).await?;
    secrets.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.secret.cmp(&b.secret))
    });
    Ok(secrets)
}

/// The secrets of `team_id` (None: the global ones) for a principal who may read them there:
/// 403 otherwise, 404 for a team that does not exist.
pub async fn readable(
    app: &crate::app::AppInner,
    principal: &crate::domain::identity::principal::Principal,
    team_id: Option<u64>,
) -> Result<Vec<EnrollSecret>, ApiError> {
    use crate::domain::identity::roles::{Permission, Scope};
    principal.require(Permission::ReadEnrollSecrets, Scope::of(team_id))?;
    if let Some(id) = team_id {
        super::teams::require(app.state(), id).await?;
    }
    Ok(list(app.state(), team_id).await?)
}

/// Makes the scope's secrets exactly `wanted`; `None` entries are generated (24 random
/// bytes, base64). Secrets kept from before keep their creation time.
pub async fn replace(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    team_id: Option<u64>,
    wanted: Vec<Option<String>>,
) -> Result<Vec<EnrollSecret>, ApiError> {
    if wanted.len() > MAX_SECRETS_PER_SCOPE {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_SECRETS_PER_SCOPE} enroll secrets per team or globally"
        )));
    }
    let mut desired = BTreeMap::new();
    for entry in wanted {
        let secret = entry.unwrap_or_else(random_secret);
        if secret.trim().is_empty() || secret.len() > MAX_SECRET_LEN {
            return Err(ApiError::bad_request(format!(
                "an enroll secret must be 1 to {MAX_SECRET_LEN} characters"
            )));
        }
        if desired.insert(sha256_hex(&secret), secret).is_some() {
            return Err(ApiError::bad_request("duplicate enroll secret in request"));
        }
    }
    let existing = list(store, team_id).await?;
    let existing_hashes: HashSet<String> = existing.iter().map(|s| sha256_hex(&s.secret)).collect();

    let mut ops = Vec::new();
    for old in &existing {
        let hash = sha256_hex(&old.secret);
        if !desired.contains_key(&hash) {
            ops.push(WriteOp::Delete {
                key: layout::enroll_secret(&hash),
                cond: Cond::None,
            });
        }
    }
    let mut result: Vec<EnrollSecret> = existing
        .iter()
        .filter(|s| desired.contains_key(&sha256_hex(&s.secret)))
        .cloned()
        .collect();
    for (hash, secret) in desired {
        if existing_hashes.contains(&hash) {
            continue;
        }
        let record = EnrollSecret {
            secret,
            created_at: now,
            team_id,
        };
        let item = Item::encode(layout::enroll_secret(&hash), &record)?
            .with_gsi1(layout::enroll_secrets_index(&scope(team_id), &hash));
        // NotExists: a secret belongs to one scope only, since it decides the host's team.
        ops.push(WriteOp::Put {
            item,
            cond: Cond::NotExists,
        });
        result.push(record);
    }
    if !ops.is_empty() {
        match store.write(ops).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => {
                return Err(ApiError::Conflict(
                    "an enroll secret in the request is already in use elsewhere".into(),
                ))
            }
            Err(other) => return Err(other.into()),
        }
    }
    result.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.secret.cmp(&b.secret))
    });
    Ok(result)
}
