//! Single sign-on: starting a sign-in at the provider and finishing it when the browser comes
//! back. What must survive between the two (state, nonce, PKCE verifier, where to go after)
//! is kept in the state store for 10 minutes under the hash of `state`, and used once; the
//! browser also carries `state` in a cookie, so a callback only works in the browser that
//! started it (no login CSRF).
//!
//! Who may sign in: an existing user with `sso_enabled`, or anyone the provider vouches for
//! when just-in-time provisioning is on (they get the default role and no password). The
//! provider must say the email is verified unless the settings say to trust it anyway.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::oidc::{OidcError, PendingLogin, ProviderSettings, PENDING_LOGIN_TTL_SECS};
use super::sessions::{self, NewCredential};
use super::sso_settings::{self, SsoSettings};
use super::users::{self, NewUser, User};
use crate::app::AppInner;
use crate::domain::credentials::{constant_time_eq, sha256_hex};
use crate::domain::layout;
use crate::domain::rate_limit::{RateLimit, Verdict};
use crate::error::ApiError;
use crate::ports::state::put;
use crate::ports::{Cond, Item, StoreError, WriteOp};

/// Sign-ins started per source address: each stores a pending item for 10 minutes.
pub const STARTS_PER_ADDRESS: RateLimit = RateLimit {
    name: "sso-starts",
    max: 120,
    window_secs: 900,
};

#[derive(Serialize, Deserialize)]
struct Pending {
    login: PendingLogin,
    /// A path on this site to land on afterwards.
    relay: String,
}

/// A path on this site, never another site (no open redirect).
pub fn check_relay(relay: Option<&str>) -> Result<String, ApiError> {
    let relay = relay.unwrap_or("/").trim();
    let local = relay.starts_with('/')
        && !relay.starts_with("//")
        && !relay.contains('\\')
        && !relay.chars().any(char::is_control);
    if !local || relay.len() > 2048 {
        return Err(ApiError::bad_request(
            "relay_url must be a path on this site, starting with /",
        ));
    }
    Ok(relay.to_string())
}

async fn enabled(app: &AppInner) -> Result<(SsoSettings, ProviderSettings, String), ApiError> {
    let settings = sso_settings::load(app.state()).await?;
    let secret_name = app.settings.identity.sso_client_secret.as_deref();
    let (true, Some(secret_name)) = (settings.enable_sso, secret_name) else {
        return Err(ApiError::not_found("single sign-on is not configured"));
    };
    let secret = app.ports.secrets.get(secret_name).await?;
    let provider = ProviderSettings {
        issuer_url: settings.issuer_url.clone(),
        client_id: settings.client_id.clone(),
    };
    Ok((settings, provider, secret))
}

fn provider_error(err: OidcError) -> ApiError {
    tracing::warn!(error = %err, "single sign-on failed");
    match err {
        OidcError::Discovery { .. } | OidcError::Provider(_) => {
            ApiError::Unavailable(format!("identity provider: {err}"))
        }
        other => ApiError::Forbidden(format!("single sign-on failed: {other}")),
    }
}

/// The provider's sign-in URL, and the `state` for the browser's cookie.
pub async fn begin(
    app: &AppInner,
    callback_url: &str,
    relay: Option<&str>,
    source_ip: &str,
) -> Result<(String, String), ApiError> {
    let relay = check_relay(relay)?;
    let (_, provider, secret) = enabled(app).await?;
    let now = app.clock.unix();
    if let Verdict::Limited { retry_after } =
        STARTS_PER_ADDRESS.hit(app.state(), source_ip, now).await?
    {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let (url, login) = app
        .identity
        .oidc
        .begin(&provider, &secret, callback_url, now)
        .await
        .map_err(provider_error)?;
    let state = login.state.clone();
    put(
        app.state(),
        Item::encode(
            layout::sso_pending(&sha256_hex(&state)),
            &Pending { login, relay },
        )?
        .with_expiry(now + PENDING_LOGIN_TTL_SECS),
        Cond::NotExists,
    )
    .await?;
    Ok((url.to_string(), state))
}

/// A signed-in user: a session, and where to send the browser.
pub struct SignedIn {
    pub user: User,
    pub session: NewCredential,
    pub relay: String,
    pub provisioned: bool,
}

/// Finishes the sign-in the browser comes back with.
pub async fn finish(
    app: &AppInner,
    state: &str,
    browser_state: Option<&str>,
    code: &str,
) -> Result<SignedIn, ApiError> {
    let refused = || ApiError::Forbidden("single sign-on failed: start again".into());
    if state.is_empty() || state.len() > 512 || code.is_empty() || code.len() > 4096 {
        return Err(refused());
    }
    if !browser_state.is_some_and(|cookie| constant_time_eq(cookie, state)) {
        return Err(refused());
    }
    let key = layout::sso_pending(&sha256_hex(state));
    let Some(item) = app.state().get(&key).await? else {
        return Err(refused());
    };
    // Used once: whoever deletes it goes on.
    match app
        .state()
        .write(vec![WriteOp::Delete {
            key,
            cond: Cond::Version(item.version),
        }])
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(refused()),
        Err(other) => return Err(other.into()),
    }
    let pending: Pending = item.decode()?;
    let now = app.clock.unix();
    if pending.login.is_expired(now) {
        return Err(refused());
    }
    let (settings, provider, secret) = enabled(app).await?;
    let identity = app
        .identity
        .oidc
        .finish(&provider, &secret, &pending.login, code)
        .await
        .map_err(provider_error)?;
    if !identity.email_verified && !settings.trust_unverified_email {
        return Err(ApiError::Forbidden(
            "single sign-on failed: the identity provider has not verified this email".into(),
        ));
    }
    let (user, provisioned) = match users::find_by_email(app.state(), &identity.email).await? {
        Some(user) if user.sso_enabled && !user.api_only => (user, false),
        Some(_) => {
            return Err(ApiError::Forbidden(
                "single sign-on is not enabled for this account: ask an admin".into(),
            ))
        }
        None if settings.enable_jit_provisioning => {
            (provision(app, &settings, &identity).await?, true)
        }
        None => {
            return Err(ApiError::Forbidden(
                "there is no account for this email: ask an admin".into(),
            ))
        }
    };
    let session = sessions::start(app, user.id, now).await?;
    Ok(SignedIn {
        user,
        session,
        relay: pending.relay,
        provisioned,
    })
}

async fn provision(
    app: &AppInner,
    settings: &SsoSettings,
    identity: &super::oidc::VerifiedIdentity,
) -> Result<User, ApiError> {
    let id = users::next_id(app.state()).await?;
    let name = identity
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| identity.email.clone());
    let user = users::build(
        NewUser {
            name: name.chars().take(255).collect(),
            email: identity.email.clone(),
            password: None,
            global_role: Some(settings.jit_default_role),
            teams: Vec::new(),
            api_only: false,
            sso_enabled: true,
        },
        id,
        app.clock.now(),
    )?;
    match users::create(app.state(), &user).await {
        Ok(()) => Ok(user),
        // Two first sign-ins at once: the other one made the account.
        Err(ApiError::Conflict(_)) => users::find_by_email(app.state(), &identity.email)
            .await?
            .ok_or_else(|| ApiError::Unavailable("account being created, retry".into())),
        Err(other) => Err(other),
    }
}

/// For the activity log.
pub fn login_details(signed_in: &SignedIn) -> serde_json::Value {
    json!({"sso": true, "provisioned": signed_in.provisioned})
}
