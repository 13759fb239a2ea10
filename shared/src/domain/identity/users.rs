//! Admin users: email (unique, case-insensitive), name, an argon2id password or none (single
//! sign-on only), a global role or team roles, and the API-only flag.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

use super::passwords;
use super::roles::{Role, Roles};
use crate::domain::{layout, teams};
use crate::error::ApiError;
use crate::ports::state::gsi1_records;
use crate::ports::{Cond, Item, StateStore, StoreError, WriteOp};

const MAX_NAME_LEN: usize = 255;
const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRole {
    pub id: u64,
    pub role: Role,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
    /// argon2id PHC string; None for single-sign-on-only and token-only users.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub global_role: Option<Role>,
    #[serde(default)]
    pub teams: Vec<TeamRole>,
    #[serde(default)]
    pub api_only: bool,
    #[serde(default)]
    pub sso_enabled: bool,
    /// Set by an admin: the user may only change their password until they do.
    #[serde(default)]
    pub force_password_reset: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Never prints the password hash.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("global_role", &self.global_role)
            .field("teams", &self.teams)
            .field("api_only", &self.api_only)
            .finish_non_exhaustive()
    }
}

impl User {
    pub fn roles(&self) -> Roles {
        Roles {
            global: self.global_role,
            teams: self.teams.iter().map(|t| (t.id, t.role)).collect(),
        }
    }

    /// Fleet's user object; team names from `team_names`.
    pub fn to_json(&self, team_names: &HashMap<u64, String>) -> Value {
        let teams: Vec<Value> = self
            .teams
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "name": team_names.get(&t.id).cloned().unwrap_or_default(),
                    "role": t.role,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "global_role": self.global_role,
            "teams": teams,
            "api_only": self.api_only,
            "sso_enabled": self.sso_enabled,
            "force_password_reset": self.force_password_reset,
            "created_at": self.created_at.to_rfc3339(),
            "updated_at": self.updated_at.to_rfc3339(),
        })
    }
}

/// Team names for user objects (teams are few; one listing per admin request).
pub async fn team_names(store: &dyn StateStore) -> Result<HashMap<u64, String>, StoreError> {
    Ok(teams::list(store)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect())
}

/// What creating or changing a user asks for, checked.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    /// Clear text, checked against the rule and hashed here; None for SSO or token-only users.
    pub password: Option<String>,
    pub global_role: Option<Role>,
    pub teams: Vec<TeamRole>,
    pub api_only: bool,
    pub sso_enabled: bool,
}

pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim();
    let valid = email.len() <= MAX_EMAIL_LEN
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(ApiError::bad_request("email must be a valid email address"));
    }
    Ok(email.to_string())
}

pub fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ApiError::bad_request(format!(
            "name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    Ok(name.to_string())
}

/// A global role or team roles, not both, and on teams that exist.
pub async fn check_roles(
    store: &dyn StateStore,
    global_role: Option<Role>,
    teams: &[TeamRole],
) -> Result<(), ApiError> {
    if global_role.is_some() && !teams.is_empty() {
        return Err(ApiError::bad_request(
            "a user has either a global_role or teams, not both",
        ));
    }
    if global_role.is_none() && teams.is_empty() {
        return Err(ApiError::bad_request(
            "a user needs a global_role or at least one team role",
        ));
    }
    let mut seen = BTreeMap::new();
    for team in teams {
        if seen.insert(team.id, team.role).is_some() {
            return Err(ApiError::bad_request(format!(
                "team {} is listed twice",
                team.id
            )));
        }
        teams::require(store, team.id).await?;
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String, ApiError> {
    passwords::check_rule(password).map_err(|e| ApiError::bad_request(e.to_string()))?;
    passwords::hash(password).map_err(ApiError::Internal)
}

/// The user record for `new`, with `password` checked and hashed.
pub fn build(new: NewUser, id: u64, now: DateTime<Utc>) -> Result<User, ApiError> {
    let password_hash = match &new.password {
        Some(password) => Some(hash_password(password)?),
        None => None,
    };
    Ok(User {
        id,
        name: check_name(&new.name)?,
        email: normalize_email(&new.email)?,
        password_hash,
        global_role: new.global_role,
        teams: new.teams,
        api_only: new.api_only,
        sso_enabled: new.sso_enabled,
        force_password_reset: false,
        created_at: now,
        updated_at: now,
    })
}

pub async fn next_id(store: &dyn StateStore) -> Result<u64, ApiError> {
    u64::try_from(store.increment(&layout::counter("user"), 1, None).await?)
        .map_err(|_| ApiError::Internal("user counter went negative".into()))
}

/// The writes that create `user` (its email claim first); `extra` joins the transaction.
pub fn create_ops(user: &User) -> Result<Vec<WriteOp>, StoreError> {
    Ok(vec![
        WriteOp::Put {
            item: Item::new(
                layout::user_email(&user.email.to_lowercase()),
                json!({ "user_id": user.id }),
            ),
            cond: Cond::NotExists,
        },
        WriteOp::Put {
            item: Item::encode(layout::user(user.id), user)?
                .with_gsi1(layout::users_index(user.id)),
            cond: Cond::NotExists,
        },
    ])
}

fn email_taken() -> ApiError {
    ApiError::Conflict("a user with this email already exists".into())
}

pub async fn create(store: &dyn StateStore, user: &User) -> Result<(), ApiError> {
    match store.write(create_ops(user)?).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(email_taken()),
        Err(other) => Err(other.into()),
    }
}

pub async fn get(store: &dyn StateStore, id: u64) -> Result<Option<(User, u64)>, StoreError> {
    match store.get(&layout::user(id)).await? {
        Some(item) => Ok(Some((item.decode()?, item.version))),
        None => Ok(None),
    }
}

pub async fn require(store: &dyn StateStore, id: u64) -> Result<(User, u64), ApiError> {
    get(store, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))
}

/// The user with this email (any case). Two reads when it exists, and two when it does not
/// (the second of a key that never exists), so the store's latency tells nothing either.
pub async fn find_by_email(
    store: &dyn StateStore,
    email: &str,
) -> Result<Option<User>, StoreError> {
    let claim = store
        .get(&layout::user_email(&email.trim().to_lowercase()))
        .await?;
    let id = claim
        .and_then(|item| item.data.get("user_id").and_then(Value::as_u64))
        .unwrap_or(0);
    Ok(get(store, id).await?.map(|(user, _)| user))
}

pub async fn list(store: &dyn StateStore) -> Result<Vec<User>, StoreError> {
    let mut users: Vec<User> = gsi1_records(store, "USERS").await?;
    users.sort_by_key(|u| u.id);
    Ok(users)
}

/// Stores `updated` over the version read; an email change moves the email claim in the same
/// transaction.
pub async fn replace(
    store: &dyn StateStore,
    before: &User,
    version: u64,
    updated: &User,
) -> Result<(), ApiError> {
    let mut ops = vec![WriteOp::Put {
        item: Item::encode(layout::user(updated.id), updated)?
            .with_gsi1(layout::users_index(updated.id)),
        cond: Cond::Version(version),
    }];
    let (old, new) = (before.email.to_lowercase(), updated.email.to_lowercase());
    if old != new {
        ops.push(WriteOp::Put {
            item: Item::new(layout::user_email(&new), json!({ "user_id": updated.id })),
            cond: Cond::NotExists,
        });
        ops.push(WriteOp::Delete {
            key: layout::user_email(&old),
            cond: Cond::None,
        });
    }
    match store.write(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) if old != new => {
            // Either the new email is taken or the user changed meanwhile: tell which.
            match store.get(&layout::user_email(&new)).await? {
                Some(_) => Err(email_taken()),
                None => Err(ApiError::Conflict(
                    "the user changed meanwhile, retry".into(),
                )),
            }
        }
        Err(StoreError::ConditionFailed) => Err(ApiError::Conflict(
            "the user changed meanwhile, retry".into(),
        )),
        Err(other) => Err(other.into()),
    }
}

/// Deletes the user and their email claim (their sessions are ended by the caller first).
pub async fn delete(store: &dyn StateStore, user: &User) -> Result<(), ApiError> {
    store
        .write(vec![
            WriteOp::Delete {
                key: layout::user(user.id),
                cond: Cond::Exists,
            },
            WriteOp::Delete {
                key: layout::user_email(&user.email.to_lowercase()),
                cond: Cond::None,
            },
        ])
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed => {
                ApiError::not_found(format!("user {} not found", user.id))
            }
            other => other.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked() {
        assert!(normalize_email(" a@example.com ").is_ok());
        assert!(normalize_email("a@b").is_err());
        assert!(normalize_email("@example.com").is_err());
        assert!(normalize_email("a b@example.com").is_err());
    }

    #[test]
    fn debug_hides_the_hash() {
        let now = Utc::now();
        let user = User {
            id: 1,
            name: "A".into(),
            email: "a@example.com".into(),
            password_hash: Some("$argon2id$secret-material".into()),
            global_role: Some(Role::Admin),
            teams: vec![],
            api_only: false,
            sso_enabled: false,
            force_password_reset: false,
            created_at: now,
            updated_at: now,
        };
        assert!(!format!("{user:?}").contains("secret-material"));
        assert!(!user.to_json(&HashMap::new()).to_string().contains("argon2"));
    }
}
