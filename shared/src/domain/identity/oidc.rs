//! Admin sign-in with an OpenID Connect provider: the authorization code flow with PKCE (S256)
//! and a nonce, as a confidential client. Discovery, the authorization URL, the code exchange and
//! every ID token check (signature, `iss`, `aud`, `exp`, `nonce`) are the `openidconnect`
//! crate's; this module picks its settings, caches what discovery returns, and turns its errors
//! into ones an administrator can act on.
//!
//! Matching `state` is the caller's job: it finds the [`PendingLogin`] by it.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreErrorResponseType, CoreIdToken,
    CoreIdTokenClaims, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    reqwest, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet,
    LocalizedClaim, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse, TokenResponse,
    UserInfoError,
};
use serde::{Deserialize, Serialize};

/// How long a [`PendingLogin`] may wait for its callback. The state store's TTL removes it
/// eventually, but DynamoDB deletes expired items lazily (up to days later): check
/// [`PendingLogin::is_expired`] as well.
pub const PENDING_LOGIN_TTL_SECS: i64 = 600;

/// Every request to the provider: long enough for a slow provider, short enough that a sign-in
/// page does not hang on an unreachable one.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Provider error descriptions are shown to users: bounded, whatever the provider sends.
const MAX_DESCRIPTION_CHARS: usize = 200;

/// A deployment's identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSettings {
    /// Compared byte for byte with the `issuer` of the provider's discovery document and the
    /// `iss` of its ID tokens, trailing slash included.
    pub issuer_url: String,
    pub client_id: String,
}

/// What the browser must bring back: kept server-side until the callback.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    /// Unix seconds, the caller's clock.
    pub created_at: i64,
}

impl PendingLogin {
    /// Older than [`PENDING_LOGIN_TTL_SECS`] at `now` (Unix seconds, the clock `begin` was given).
    pub fn is_expired(&self, now: i64) -> bool {
        now.saturating_sub(self.created_at) > PENDING_LOGIN_TTL_SECS
    }
}

// The verifier and nonce are what make a stolen code useless: not for logs.
impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"[redacted]")
            .field("pkce_verifier", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A verified sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedIdentity {
    /// The provider's stable identifier for the account (`sub`); unique per issuer only.
    pub subject: String,
    /// As the provider sent it (not lower-cased).
    pub email: String,
    /// `email_verified`; false when the provider does not send it.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why an ID token was refused. The details come from `openidconnect` and name only issuers,
/// client ids and times.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenProblem {
    #[error("its signature does not verify ({0})")]
    Signature(String),
    #[error("it is signed with a key the provider does not publish")]
    UnknownKey,
    #[error("it comes from another issuer ({0})")]
    Issuer(String),
    #[error("it was issued to another client ({0})")]
    Audience(String),
    #[error("it has expired ({0}); check the server's clock")]
    Expired(String),
    #[error("it does not belong to this sign-in (nonce mismatch)")]
    Nonce,
    #[error("{0}")]
    Other(String),
}

/// Sign-in failures. Messages can be shown to an administrator: they never contain the client
/// secret, the code, the nonce or the PKCE verifier.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The issuer URL, client id or redirect URI cannot be used as configured.
    #[error("single sign-on is misconfigured: {0}")]
    Settings(String),
    /// The provider is unreachable, or what it serves is not usable provider metadata.
    #[error("could not load the identity provider's configuration from {issuer}: {reason}")]
    Discovery { issuer: String, reason: String },
    /// The token endpoint could not be reached or answered something unreadable.
    #[error("the identity provider did not complete the sign-in: {0}")]
    Provider(String),
    /// `invalid_client`: wrong client id or secret, or an authentication method the provider
    /// does not accept for this client.
    #[error(
        "the identity provider refused this server's client credentials (client id or secret)"
    )]
    ClientRejected,
    /// The token endpoint refused the code: already used, expired, issued to another client or
    /// redirect URI, or the PKCE verifier does not match.
    #[error("the identity provider refused the sign-in ({error}{})", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    TokenRefused {
        error: String,
        description: Option<String>,
    },
    #[error("the identity provider returned no ID token (is the openid scope allowed?)")]
    NoIdToken,
    #[error("the identity provider's ID token is not acceptable: {0}")]
    InvalidIdToken(#[from] IdTokenProblem),
    /// Neither the ID token nor the userinfo endpoint gave an email address.
    #[error("the identity provider did not share an email address for this account (the email scope may not be allowed)")]
    MissingEmail,
    #[error("could not read the account's profile from the identity provider: {0}")]
    UserInfo(String),
}

/// When cached provider metadata is refetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTiming {
    /// Discovery document and JWKS are fetched again once this old.
    pub metadata_ttl: Duration,
    /// An ID token signed with an unknown key id refetches the JWKS (key rotation), at most this
    /// often per issuer: forged key ids must not turn into a request flood at the provider.
    pub min_jwks_refresh_interval: Duration,
}

impl Default for CacheTiming {
    fn default() -> Self {
        Self {
            metadata_ttl: Duration::from_secs(3600),
            min_jwks_refresh_interval: Duration::from_secs(60),
        }
    }
}

/// What a [`ProviderCache`] has fetched since it was created (successful fetches only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Discovery documents loaded, each with its JWKS.
    pub discoveries: u64,
    /// JWKS reloaded on an unknown key id.
    pub jwks_refreshes: u64,
}

struct Discovered {
    metadata: CoreProviderMetadata,
    discovered_at: Instant,
}

#[derive(Default)]
struct Slot {
    current: Option<Arc<Discovered>>,
    /// Any JWKS fetch, successful or not, for the refresh rate limit.
    jwks_attempted_at: Option<Instant>,
}

/// Per-process cache of provider metadata (discovery + JWKS), keyed by issuer.
pub struct ProviderCache {
    timing: CacheTiming,
    http: tokio::sync::OnceCell<reqwest::Client>,
    // One async lock per issuer, so that concurrent sign-ins wait for one discovery instead of
    // each making their own.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    discoveries: AtomicU64,
    jwks_refreshes: AtomicU64,
}

impl Default for ProviderCache {
    fn default() -> Self {
        Self::with_timing(CacheTiming::default())
    }
}

impl fmt::Debug for ProviderCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderCache")
            .field("timing", &self.timing)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

type ConfiguredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

type HttpError = openidconnect::HttpClientError<reqwest::Error>;

impl ProviderCache {
    pub fn with_timing(timing: CacheTiming) -> Self {
        Self {
            timing,
            http: tokio::sync::OnceCell::new(),
            slots: Mutex::new(HashMap::new()),
            discoveries: AtomicU64::new(0),
            jwks_refreshes: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            discoveries: self.discoveries.load(Ordering::Relaxed),
            jwks_refreshes: self.jwks_refreshes.load(Ordering::Relaxed),
        }
    }

    /// Loads the provider's metadata (or finds it cached): to check settings before saving them.
    pub async fn check(&self, provider: &ProviderSettings) -> Result<(), OidcError> {
        check_client_id(provider)?;
        self.metadata(&issuer_url(provider)?).await.map(|_| ())
    }

    /// The provider's authorization URL (code flow, PKCE S256, nonce, scopes openid email
    /// profile) and what to keep until the callback.
    pub async fn begin(
        &self,
        provider: &ProviderSettings,
        client_secret: &str,
        redirect_uri: &str,
        now: i64,
    ) -> Result<(url::Url, PendingLogin), OidcError> {
        let issuer = issuer_url(provider)?;
        let redirect = redirect_url(redirect_uri)?;
        check_client_id(provider)?;
        let discovered = self.metadata(&issuer).await?;
        let client = configured_client(&discovered.metadata, provider, client_secret, redirect);
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_string()))
            .add_scope(Scope::new("profile".to_string()))
            .set_pkce_challenge(pkce_challenge)
            .url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: pkce_verifier.secret().clone(),
            redirect_uri: redirect_uri.to_string(),
            created_at: now,
        };
        Ok((url, pending))
    }

    /// Exchanges the code and verifies the ID token (signature, iss, aud, exp, nonce via
    /// openidconnect's verifier); the caller has already matched `state`.
    ///
    /// Email and name come from the ID token, or from the userinfo endpoint when the ID token
    /// carries no email (OpenID Connect Core 5.4 lets providers keep scope claims out of ID
    /// tokens issued with an access token); the userinfo `sub` must equal the ID token's.
    pub async fn finish(
        &self,
        provider: &ProviderSettings,
        client_secret: &str,
        pending: &PendingLogin,
        code: &str,
    ) -> Result<VerifiedIdentity, OidcError> {
        let issuer = issuer_url(provider)?;
        let redirect = redirect_url(&pending.redirect_uri)?;
        check_client_id(provider)?;
        let discovered = self.metadata(&issuer).await?;
        let http = self.http().await?;
        let client = configured_client(
            &discovered.metadata,
            provider,
            client_secret,
            redirect.clone(),
        );
        let token_response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| OidcError::Provider("its configuration has no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(http)
            .await
            .map_err(token_error)?;
        let id_token = token_response.id_token().ok_or(OidcError::NoIdToken)?;
        let nonce = Nonce::new(pending.nonce.clone());

        let (client, claims) = match verify(&client, id_token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider may have rotated its signing key since the JWKS was cached.
                let Some(refreshed) = self.refresh_jwks(&issuer, &discovered).await? else {
                    return Err(IdTokenProblem::UnknownKey.into());
                };
                let client =
                    configured_client(&refreshed.metadata, provider, client_secret, redirect);
                let claims = verify(&client, id_token, &nonce).map_err(id_token_problem)?;
                (client, claims)
            }
            verified => (client, verified.map_err(id_token_problem)?),
        };

        let subject = claims.subject().to_string();
        if let Some(email) = claims.email().filter(|email| !email.is_empty()) {
            return Ok(VerifiedIdentity {
                subject,
                email: email.to_string(),
                email_verified: claims.email_verified().unwrap_or(false),
                name: localized(claims.name()),
            });
        }

        let Ok(request) = client.user_info(
            token_response.access_token().clone(),
            Some(claims.subject().clone()),
        ) else {
            // No userinfo endpoint: the ID token was the only place an email could come from.
            return Err(OidcError::MissingEmail);
        };
        let info: CoreUserInfoClaims = request.request_async(http).await.map_err(userinfo_error)?;
        let email = info
            .email()
            .filter(|email| !email.is_empty())
            .ok_or(OidcError::MissingEmail)?;
        Ok(VerifiedIdentity {
            subject,
            email: email.to_string(),
            email_verified: info.email_verified().unwrap_or(false),
            name: localized(info.name()).or_else(|| localized(claims.name())),
        })
    }

    async fn http(&self) -> Result<&reqwest::Client, OidcError> {
        self.http
            .get_or_try_init(|| async {
                reqwest::Client::builder()
                    // openidconnect's advice: a redirect could send the discovery, JWKS or token
                    // request (with the client secret) wherever the redirect points.
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(HTTP_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build()
                    .map_err(|err| OidcError::Provider(error_chain(&err)))
            })
            .await
    }

    fn slot(&self, issuer: &IssuerUrl) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(issuer.to_string()).or_default().clone()
    }

    async fn metadata(&self, issuer: &IssuerUrl) -> Result<Arc<Discovered>, OidcError> {
        let slot = self.slot(issuer);
        let mut slot = slot.lock().await;
        if let Some(current) = &slot.current {
            if current.discovered_at.elapsed() < self.timing.metadata_ttl {
                return Ok(current.clone());
            }
        }
        let http = self.http().await?;
        let started = Instant::now();
        slot.jwks_attempted_at = Some(started);
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), http)
            .await
            .map_err(|err| OidcError::Discovery {
                issuer: issuer.to_string(),
                reason: error_chain(&err),
            })?;
        self.discoveries.fetch_add(1, Ordering::Relaxed);
        let discovered = Arc::new(Discovered {
            metadata,
            discovered_at: started,
        });
        slot.current = Some(discovered.clone());
        Ok(discovered)
    }

    /// Metadata with a newer JWKS than `seen`'s, or None when the last fetch is too recent.
    async fn refresh_jwks(
        &self,
        issuer: &IssuerUrl,
        seen: &Arc<Discovered>,
    ) -> Result<Option<Arc<Discovered>>, OidcError> {
        let slot = self.slot(issuer);
        let mut slot = slot.lock().await;
        if let Some(current) = &slot.current {
            if !Arc::ptr_eq(current, seen) {
                // Another sign-in refreshed it meanwhile.
                return Ok(Some(current.clone()));
            }
        }
        if slot
            .jwks_attempted_at
            .is_some_and(|at| at.elapsed() < self.timing.min_jwks_refresh_interval)
        {
            return Ok(None);
        }
        let http = self.http().await?;
        slot.jwks_attempted_at = Some(Instant::now());
        let jwks = JsonWebKeySet::fetch_async(seen.metadata.jwks_uri(), http)
            .await
            .map_err(|err| OidcError::Discovery {
                issuer: issuer.to_string(),
                reason: error_chain(&err),
            })?;
        self.jwks_refreshes.fetch_add(1, Ordering::Relaxed);
        let refreshed = Arc::new(Discovered {
            metadata: seen.metadata.clone().set_jwks(jwks),
            discovered_at: seen.discovered_at,
        });
        slot.current = Some(refreshed.clone());
        Ok(Some(refreshed))
    }
}

fn issuer_url(provider: &ProviderSettings) -> Result<IssuerUrl, OidcError> {
    IssuerUrl::new(provider.issuer_url.clone())
        .map_err(|err| OidcError::Settings(format!("issuer URL {:?}: {err}", provider.issuer_url)))
}

fn redirect_url(redirect_uri: &str) -> Result<RedirectUrl, OidcError> {
    RedirectUrl::new(redirect_uri.to_string())
        .map_err(|err| OidcError::Settings(format!("redirect URI {redirect_uri:?}: {err}")))
}

fn check_client_id(provider: &ProviderSettings) -> Result<(), OidcError> {
    if provider.client_id.trim().is_empty() {
        return Err(OidcError::Settings("the client id is empty".into()));
    }
    Ok(())
}

fn configured_client(
    metadata: &CoreProviderMetadata,
    provider: &ProviderSettings,
    client_secret: &str,
    redirect: RedirectUrl,
) -> ConfiguredClient {
    let secret = (!client_secret.is_empty()).then(|| ClientSecret::new(client_secret.to_string()));
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        secret,
    )
    .set_redirect_uri(redirect);
    // HTTP Basic is the default of RFC 6749 and of openidconnect; a provider that lists only
    // client_secret_post gets the secret in the body.
    let methods = metadata.token_endpoint_auth_methods_supported();
    let post_only = methods.is_some_and(|methods| {
        methods.contains(&CoreClientAuthMethod::ClientSecretPost)
            && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
    });
    if post_only {
        // set_auth_type also drops the implicit openid scope (openidconnect 4.1).
        client
            .set_auth_type(AuthType::RequestBody)
            .enable_openid_scope()
    } else {
        client
    }
}

fn verify(
    client: &ConfiguredClient,
    id_token: &CoreIdToken,
    nonce: &Nonce,
) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
    id_token
        .clone()
        .into_claims(&client.id_token_verifier(), nonce)
}

fn id_token_problem(err: ClaimsVerificationError) -> OidcError {
    let problem = match err {
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        ) => IdTokenProblem::UnknownKey,
        ClaimsVerificationError::SignatureVerification(err) => {
            IdTokenProblem::Signature(err.to_string())
        }
        ClaimsVerificationError::InvalidIssuer(detail) => IdTokenProblem::Issuer(detail),
        ClaimsVerificationError::InvalidAudience(detail) => IdTokenProblem::Audience(detail),
        ClaimsVerificationError::Expired(detail) => IdTokenProblem::Expired(detail),
        ClaimsVerificationError::InvalidNonce(_) => IdTokenProblem::Nonce,
        other => IdTokenProblem::Other(other.to_string()),
    };
    OidcError::InvalidIdToken(problem)
}

fn token_error(
    err: RequestTokenError<HttpError, StandardErrorResponse<CoreErrorResponseType>>,
) -> OidcError {
    match err {
        RequestTokenError::ServerResponse(response) => match response.error() {
            CoreErrorResponseType::InvalidClient => OidcError::ClientRejected,
            error => OidcError::TokenRefused {
                error: bounded(error.as_ref()),
                description: response.error_description().map(|d| bounded(d)),
            },
        },
        RequestTokenError::Request(err) => OidcError::Provider(error_chain(&err)),
        RequestTokenError::Parse(err, _body) => {
            OidcError::Provider(format!("unreadable token response: {err}"))
        }
        RequestTokenError::Other(detail) => OidcError::Provider(detail),
    }
}

fn userinfo_error(err: UserInfoError<HttpError>) -> OidcError {
    match err {
        UserInfoError::ClaimsVerification(err) => OidcError::UserInfo(err.to_string()),
        other => OidcError::UserInfo(error_chain(&other)),
    }
}

fn localized(claim: Option<&LocalizedClaim<openidconnect::EndUserName>>) -> Option<String> {
    let claim = claim?;
    claim
        .get(None)
        .or_else(|| claim.iter().next().map(|(_, name)| name))
        .map(|name| name.to_string())
        .filter(|name| !name.is_empty())
}

/// The error and its sources, deduplicated: reqwest and openidconnect put the useful part
/// (connection refused, the HTTP status, the JSON path) in the sources.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

fn bounded(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_DESCRIPTION_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str) -> ProviderSettings {
        ProviderSettings {
            issuer_url: issuer.into(),
            client_id: "flotilla".into(),
        }
    }

    fn pending() -> PendingLogin {
        PendingLogin {
            state: "state-1".into(),
            nonce: "nonce-secret".into(),
            pkce_verifier: "verifier-secret".into(),
            redirect_uri: "https://fleet.example.com/sso/callback".into(),
            created_at: 1_700_000_000,
        }
    }

    #[test]
    fn pending_login_round_trips_and_hides_its_secrets_from_debug() {
        let login = pending();
        let json = serde_json::to_string(&login).unwrap();
        let back: PendingLogin = serde_json::from_str(&json).unwrap();
        assert_eq!(back.nonce, "nonce-secret");
        assert_eq!(back.pkce_verifier, "verifier-secret");
        assert_eq!(back.created_at, login.created_at);
        let debug = format!("{login:?}");
        assert!(!debug.contains("nonce-secret"), "{debug}");
        assert!(!debug.contains("verifier-secret"), "{debug}");
        assert!(debug.contains("state-1"), "{debug}");
    }

    #[test]
    fn pending_login_expires_after_ten_minutes() {
        let login = pending();
        assert!(!login.is_expired(login.created_at));
        assert!(!login.is_expired(login.created_at + PENDING_LOGIN_TTL_SECS));
        assert!(login.is_expired(login.created_at + PENDING_LOGIN_TTL_SECS + 1));
    }

    #[tokio::test]
    async fn unusable_settings_fail_before_any_request() {
        let cache = ProviderCache::default();
        let err = cache
            .begin(
                &settings("not a url"),
                "s",
                "https://fleet.example.com/cb",
                0,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::Settings(_)), "{err}");

        let err = cache
            .begin(&settings("https://idp.example.com"), "s", "/relative", 0)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::Settings(_)), "{err}");

        let mut no_client = settings("https://idp.example.com");
        no_client.client_id = " ".into();
        let err = cache
            .finish(&no_client, "s", &pending(), "code")
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::Settings(_)), "{err}");
        assert_eq!(cache.stats(), CacheStats::default());
    }

    #[tokio::test]
    async fn an_unreachable_issuer_is_a_discovery_error() {
        // A port that was free a moment ago: connection refused, at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let issuer = format!("http://127.0.0.1:{port}");
        let cache = ProviderCache::default();
        let err = cache
            .begin(&settings(&issuer), "s", "https://fleet.example.com/cb", 0)
            .await
            .unwrap_err();
        let OidcError::Discovery {
            issuer: named,
            reason,
        } = &err
        else {
            panic!("expected a discovery error, got {err:?}");
        };
        assert_eq!(named, &issuer);
        assert!(reason.to_lowercase().contains("connect"), "{reason}");
    }

    #[test]
    fn token_endpoint_errors_become_typed_refusals() {
        let refused: StandardErrorResponse<CoreErrorResponseType> = serde_json::from_value(
            serde_json::json!({"error": "invalid_grant", "error_description": "grant request is invalid"}),
        )
        .unwrap();
        let err = token_error(RequestTokenError::ServerResponse(refused));
        assert!(
            matches!(&err, OidcError::TokenRefused { error, description: Some(d) }
                if error == "invalid_grant" && d == "grant request is invalid"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the identity provider refused the sign-in (invalid_grant: grant request is invalid)"
        );

        let client: StandardErrorResponse<CoreErrorResponseType> =
            serde_json::from_value(serde_json::json!({"error": "invalid_client"})).unwrap();
        assert!(matches!(
            token_error(RequestTokenError::ServerResponse(client)),
            OidcError::ClientRejected
        ));
    }

    #[test]
    fn provider_descriptions_are_bounded_and_single_line() {
        let long = format!("a\nb{}", "x".repeat(1000));
        let text = bounded(&long);
        assert!(!text.contains('\n'));
        assert_eq!(text.chars().count(), MAX_DESCRIPTION_CHARS);
    }
}
