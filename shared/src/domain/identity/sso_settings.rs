//! Single sign-on settings: the OpenID provider, just-in-time provisioning, and whether
//! password logins are refused. The client secret lives in the secret store.

use serde::{Deserialize, Serialize};

use super::audit::{self, ActedBy};
use super::oidc::ProviderSettings;
use super::roles::Role;
use crate::app::AppInner;
use crate::domain::{layout, records};
use crate::error::ApiError;
use crate::ports::{StateStore, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SsoSettings {
    #[serde(default)]
    pub enable_sso: bool,
    /// Shown on the sign-in button.
    #[serde(default)]
    pub idp_name: String,
    #[serde(default)]
    pub issuer_url: String,
    #[serde(default)]
    pub client_id: String,
    /// Create an account at the first sign-in of someone the provider vouches for.
    #[serde(default)]
    pub enable_jit_provisioning: bool,
    /// The global role such accounts get.
    #[serde(default = "default_jit_role")]
    pub jit_default_role: Role,
    /// Refuse password logins (the break-glass token and API tokens keep working).
    #[serde(default)]
    pub sso_required: bool,
    /// Accept emails the provider does not mark verified (Entra ID often sends no
    /// `email_verified`); off, such sign-ins are refused.
    #[serde(default)]
    pub trust_unverified_email: bool,
}

fn default_jit_role() -> Role {
    Role::Observer
}

impl Default for SsoSettings {
    fn default() -> Self {
        SsoSettings {
            enable_sso: false,
            idp_name: String::new(),
            issuer_url: String::new(),
            client_id: String::new(),
            enable_jit_provisioning: false,
            jit_default_role: default_jit_role(),
            sso_required: false,
            trust_unverified_email: false,
        }
    }
}

/// A partial update.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSettingsPatch {
    pub enable_sso: Option<bool>,
    pub idp_name: Option<String>,
    pub issuer_url: Option<String>,
    pub client_id: Option<String>,
    pub enable_jit_provisioning: Option<bool>,
    pub jit_default_role: Option<Role>,
    pub sso_required: Option<bool>,
    pub trust_unverified_email: Option<bool>,
}

pub async fn load(store: &dyn StateStore) -> Result<SsoSettings, StoreError> {
    match store.get(&layout::sso_settings()).await? {
        Some(item) => item.decode(),
        None => Ok(SsoSettings::default()),
    }
}

fn check(settings: &SsoSettings) -> Result<(), ApiError> {
    if settings.enable_sso {
        let issuer = url::Url::parse(&settings.issuer_url)
            .map_err(|_| ApiError::bad_request("issuer_url must be a URL"))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(ApiError::bad_request("issuer_url must be an http(s) URL"));
        }
        if settings.client_id.trim().is_empty() {
            return Err(ApiError::bad_request("client_id is required to enable SSO"));
        }
    }
    if settings.sso_required && !settings.enable_sso {
        return Err(ApiError::bad_request(
            "sso_required needs enable_sso: nobody could sign in",
        ));
    }
    Ok(())
}

/// The settings with `patch` applied, checked.
pub fn apply(current: SsoSettings, patch: &SsoSettingsPatch) -> Result<SsoSettings, ApiError> {
    let mut next = current;
    if let Some(v) = patch.enable_sso {
        next.enable_sso = v;
    }
    if let Some(v) = &patch.idp_name {
        next.idp_name = v.trim().to_string();
    }
    if let Some(v) = &patch.issuer_url {
        next.issuer_url = v.trim().to_string();
    }
    if let Some(v) = &patch.client_id {
        next.client_id = v.trim().to_string();
    }
    if let Some(v) = patch.enable_jit_provisioning {
        next.enable_jit_provisioning = v;
    }
    if let Some(v) = patch.jit_default_role {
        next.jit_default_role = v;
    }
    if let Some(v) = patch.sso_required {
        next.sso_required = v;
    }
    if let Some(v) = patch.trust_unverified_email {
        next.trust_unverified_email = v;
    }
    check(&next)?;
    Ok(next)
}

pub async fn patch(
    store: &dyn StateStore,
    patch: SsoSettingsPatch,
) -> Result<SsoSettings, ApiError> {
    records::update(
        store,
        &layout::sso_settings(),
        None,
        |current: Option<SsoSettings>| apply(current.unwrap_or_default(), &patch),
    )
    .await
}

/// An admin's change to the settings, whatever asks (the JSON API or the admin UI): settings
/// that enable SSO need the deployment's client secret and first reach the provider, so a typo
/// fails here and not at everyone's next sign-in. Recorded in the activity log.
pub async fn save(
    app: &AppInner,
    by: &ActedBy<'_>,
    change: SsoSettingsPatch,
) -> Result<SsoSettings, ApiError> {
    let candidate = apply(load(app.state()).await?, &change)?;
    if candidate.enable_sso {
        if app.settings.identity.sso_client_secret.is_none() {
            return Err(ApiError::bad_request(
                "no OpenID Connect client secret is configured for this deployment (SsoClientSecretArn, or --sso-client-secret-file locally)",
            ));
        }
        let provider = ProviderSettings {
            issuer_url: candidate.issuer_url.clone(),
            client_id: candidate.client_id.clone(),
        };
        app.identity
            .oidc
            .check(&provider)
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let settings = patch(app.state(), change).await?;
    audit::record(
        app,
        by.actor.clone(),
        "edited_sso_settings",
        serde_json::json!(settings),
        by.source_ip,
    )
    .await?;
    Ok(settings)
}
