//! Fleet's orbit agent: its node key (kept apart from osquery's, for the same host) and the
//! Fleet Desktop device token it sets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::credentials::sha256_hex;
use super::hosts::{self, AgentKind, HostState};
use super::layout;
use crate::error::ApiError;
use crate::ports::{Cond, Item, StateStore, StoreError, WriteOp};

/// A device token is valid for this long after it was last set (orbit rotates it hourly).
pub const DEVICE_TOKEN_TTL_SECS: i64 = 3600;
const MAX_TOKEN_LEN: usize = 256;

/// The host an orbit node key belongs to; 401 otherwise (orbit then enrolls again).
pub async fn authenticate(
    store: &dyn StateStore,
    orbit_node_key: Option<&str>,
) -> Result<HostState, ApiError> {
    let key = orbit_node_key
        .filter(|k| !k.is_empty() && k.len() <= MAX_TOKEN_LEN)
        .ok_or(ApiError::Unauthorized)?;
    let hash = sha256_hex(key);
    let host_id = hosts::host_id_for_key(store, AgentKind::Orbit, &hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let state = hosts::load(store, host_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if state.host.orbit_node_key_hash.as_deref() != Some(hash.as_str()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(state)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DeviceToken {
    host_id: u64,
    set_at: DateTime<Utc>,
}

/// Makes `token` the host's device token for the next hour; the previous one stops working.
/// 400 for an empty token, 409 when another host holds it.
pub async fn set_device_token(
    store: &dyn StateStore,
    now: DateTime<Utc>,
    host_id: u64,
    token: &str,
) -> Result<(), ApiError> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::bad_request(format!(
            "device_auth_token must be 1 to {MAX_TOKEN_LEN} characters"
        )));
    }
    let hash = sha256_hex(token);
    let key = layout::device_token(&hash);
    let cond = match store.get(&key).await? {
        Some(item) if item.decode::<DeviceToken>()?.host_id != host_id => {
            return Err(ApiError::Conflict("device token already in use".into()))
        }
        Some(item) => Cond::Version(item.version),
        None => Cond::NotExists,
    };
    let previous = store
        .get(&layout::host_device(host_id))
        .await?
        .and_then(|item| {
            item.data
                .get("token_hash")
                .and_then(|h| h.as_str())
                .map(str::to_string)
        });
    let record = DeviceToken {
        host_id,
        set_at: now,
    };
    let mut ops = vec![
        WriteOp::Put {
            item: Item::encode(key, &record)?.with_expiry(now.timestamp() + DEVICE_TOKEN_TTL_SECS),
            cond,
        },
        WriteOp::Put {
            item: Item::new(layout::host_device(host_id), json!({ "token_hash": hash })),
            cond: Cond::None,
        },
    ];
    if let Some(old) = previous.filter(|old| *old != hash) {
        ops.push(WriteOp::Delete {
            key: layout::device_token(&old),
            cond: Cond::None,
        });
    }
    match store.write(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => {
            Err(ApiError::Conflict("device token already in use".into()))
        }
        Err(other) => Err(other.into()),
    }
}

/// The host whose current, unexpired device token this is.
pub async fn host_for_device_token(
    store: &dyn StateStore,
    token: &str,
) -> Result<Option<u64>, StoreError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    match store.get(&layout::device_token(&sha256_hex(token))).await? {
        Some(item) => Ok(Some(item.decode::<DeviceToken>()?.host_id)),
        None => Ok(None),
    }
}
