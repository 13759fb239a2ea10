//! Recording admin actions in the activity log, from the principal that made them.

use serde_json::Value;

use super::principal::{Credential, Principal};
use super::users::User;
use crate::app::AppInner;
use crate::domain::activities::{self, Actor, NewActivity};
use crate::error::ApiError;

/// Who acts, and from where: what an action's record in the activity log needs.
pub struct ActedBy<'a> {
    pub actor: Actor,
    pub source_ip: &'a str,
}

impl<'a> ActedBy<'a> {
    pub fn new(principal: &Principal, source_ip: &'a str) -> Self {
        ActedBy {
            actor: principal.actor(),
            source_ip,
        }
    }
}

pub fn actor_of(user: &User) -> Actor {
    Actor::User {
        id: user.id,
        name: user.name.clone(),
        email: user.email.clone(),
    }
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match (&self.credential, &self.user) {
            (Credential::BreakGlass, _) | (_, None) => Actor::BreakGlass,
            (_, Some(user)) => actor_of(user),
        }
    }
}

/// Records one activity. A change that was made is not undone when its record fails: the
/// failure is logged and the request answers 503 so the client knows to look.
pub async fn record(
    app: &AppInner,
    actor: Actor,
    kind: &str,
    details: Value,
    source_ip: &str,
) -> Result<(), ApiError> {
    let new = NewActivity {
        actor,
        kind: kind.to_string(),
        details,
        source_ip: Some(source_ip.to_string()),
    };
    activities::record(
        app.state(),
        app.clock.now(),
        app.settings.identity.activity_retention_days,
        new,
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        tracing::error!(kind, error = %e, "activity not recorded");
        ApiError::from(e)
    })
}
