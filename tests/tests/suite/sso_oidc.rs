//! Single sign-on's relying party (flotilla::domain::identity::oidc) against a real OpenID
//! provider on loopback (npm oidc-provider, tests/oidc): the whole code flow, and each way it
//! must fail.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use flotilla::domain::identity::oidc::{
    CacheStats, CacheTiming, IdTokenProblem, OidcError, PendingLogin, ProviderCache,
    ProviderSettings, VerifiedIdentity,
};
use flotilla_tests::oidc_provider::{Client, OidcProvider, ProviderOptions};
use reqwest::Url;

const CLIENT_ID: &str = "flotilla";
const CLIENT_SECRET: &str = "flotilla-client-secret-5f2b8c";
/// Never requested: sign_in stops at the redirect to it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/api/v1/fleet/sso/callback";
const NOW: i64 = 1_767_225_600;

fn client(client_id: &str, client_secret: &str) -> Client {
    Client {
        client_id: client_id.into(),
        client_secret: client_secret.into(),
        redirect_uris: vec![REDIRECT_URI.into()],
    }
}

async fn provider(options: ProviderOptions) -> OidcProvider {
    let mut options = options;
    if options.clients.is_empty() {
        options.clients = vec![client(CLIENT_ID, CLIENT_SECRET)];
    }
    let provider = OidcProvider::start_with(options).await;
    eprintln!(
        "OpenID provider at {} ready in {} ms",
        provider.issuer(),
        provider.started_in.as_millis()
    );
    provider
}

fn settings(provider: &OidcProvider) -> ProviderSettings {
    ProviderSettings {
        issuer_url: provider.issuer().into(),
        client_id: CLIENT_ID.into(),
    }
}

fn query(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// The code of a successful callback, after checking that it carries our state.
fn code(callback: &str, pending: &PendingLogin) -> String {
    assert!(
        callback.starts_with(REDIRECT_URI),
        "the callback goes to our redirect URI: {callback}"
    );
    let params = query(callback);
    assert_eq!(params.get("error"), None, "{callback}");
    assert_eq!(params.get("state"), Some(&pending.state), "{callback}");
    params
        .get("code")
        .unwrap_or_else(|| panic!("no code in {callback}"))
        .clone()
}

/// begin, sign in as `login`, and the code: what a browser brings back to the callback.
async fn signed_in(
    cache: &ProviderCache,
    provider: &OidcProvider,
    settings: &ProviderSettings,
    login: &str,
) -> (PendingLogin, String) {
    let (url, pending) = cache
        .begin(settings, CLIENT_SECRET, REDIRECT_URI, NOW)
        .await
        .expect("begin");
    let callback = provider.sign_in(url.as_str(), login).await;
    let code = code(&callback, &pending);
    (pending, code)
}

/// The provider's own reason for refusing a token request (its answers stay generic).
fn assert_logged(provider: &OidcProvider, reason: &str) {
    let stderr = provider.stderr();
    assert!(
        stderr.contains(reason),
        "the provider's log should say {reason:?}:\n{stderr}"
    );
}

fn assert_no_secret(err: &OidcError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(CLIENT_SECRET), "{shown}");
}

#[tokio::test]
async fn the_code_flow_signs_in_with_the_accounts_email_and_name() {
    let provider = provider(ProviderOptions::default()).await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();

    let (url, pending) = cache
        .begin(&settings, CLIENT_SECRET, REDIRECT_URI, NOW)
        .await
        .expect("begin");
    assert!(
        url.as_str()
            .starts_with(&format!("{}/auth?", provider.issuer())),
        "{url}"
    );
    let params = query(url.as_str());
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["redirect_uri"], REDIRECT_URI);
    let scopes: Vec<&str> = params["scope"].split(' ').collect();
    for scope in ["openid", "email", "profile"] {
        assert!(scopes.contains(&scope), "scope {scope} in {scopes:?}");
    }
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(params["code_challenge"].len() >= 43, "{params:?}");
    assert_ne!(params["code_challenge"], pending.pkce_verifier);
    assert_eq!(params["nonce"], pending.nonce);
    assert_eq!(params["state"], pending.state);
    assert!(!params.contains_key("client_secret"));
    assert_eq!(pending.redirect_uri, REDIRECT_URI);
    assert_eq!(pending.created_at, NOW);
    // Unguessable: 16 random bytes or more, base64url.
    for value in [&pending.state, &pending.nonce] {
        assert!(value.len() >= 22, "{value}");
    }
    assert!(pending.pkce_verifier.len() >= 43);

    let callback = provider.sign_in(url.as_str(), "alice@example.com").await;
    // RFC 9207: the provider names itself in the response (the caller may check it).
    assert_eq!(
        query(&callback).get("iss").map(String::as_str),
        Some(provider.issuer())
    );
    let code = code(&callback, &pending);

    let identity = cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .expect("finish");
    assert_eq!(
        identity,
        VerifiedIdentity {
            subject: "alice-sub".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            name: Some("Alice Admin".into()),
        }
    );
    // This provider keeps email and name out of ID tokens issued with an access token: they
    // came from the userinfo endpoint.
    assert_eq!(provider.request_count("/me").await, 1);
    assert_eq!(provider.request_count("/token").await, 1);
}

#[tokio::test]
async fn claims_in_the_id_token_need_no_userinfo_request() {
    let provider = provider(ProviderOptions {
        claims_in_id_token: true,
        ..ProviderOptions::default()
    })
    .await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();

    let (pending, code) = signed_in(&cache, &provider, &settings, "alice@example.com").await;
    let alice = cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .expect("alice signs in");
    assert_eq!(alice.subject, "alice-sub");
    assert_eq!(alice.email, "alice@example.com");
    assert_eq!(alice.name.as_deref(), Some("Alice Admin"));

    // Another account, by its email; unverified and nameless.
    let (pending, code) = signed_in(&cache, &provider, &settings, "bob@example.com").await;
    let bob = cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .expect("bob signs in");
    assert_eq!(
        bob,
        VerifiedIdentity {
            subject: "bob-sub".into(),
            email: "bob@example.com".into(),
            email_verified: false,
            name: None,
        }
    );
    assert_eq!(provider.request_count("/me").await, 0);
}

#[tokio::test]
async fn an_account_without_an_email_cannot_sign_in() {
    for claims_in_id_token in [false, true] {
        let provider = provider(ProviderOptions {
            claims_in_id_token,
            ..ProviderOptions::default()
        })
        .await;
        let settings = settings(&provider);
        let cache = ProviderCache::default();
        let (pending, code) = signed_in(&cache, &provider, &settings, "carol-sub").await;
        let err = cache
            .finish(&settings, CLIENT_SECRET, &pending, &code)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::MissingEmail), "{err:?}");
        // Without an email in the ID token, userinfo was asked.
        assert_eq!(provider.request_count("/me").await, 1);
    }
}

#[tokio::test]
async fn a_wrong_nonce_is_refused() {
    let provider = provider(ProviderOptions::default()).await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();
    let (mut pending, code) = signed_in(&cache, &provider, &settings, "alice@example.com").await;
    // The nonce of another sign-in: what a code injected from another browser would bring.
    let (_, other) = cache
        .begin(&settings, CLIENT_SECRET, REDIRECT_URI, NOW)
        .await
        .unwrap();
    pending.nonce = other.nonce;

    let err = cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OidcError::InvalidIdToken(IdTokenProblem::Nonce)),
        "{err:?}"
    );
    assert_no_secret(&err);
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_by_the_token_endpoint() {
    let provider = provider(ProviderOptions::default()).await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();
    let (mut pending, code) = signed_in(&cache, &provider, &settings, "alice@example.com").await;
    let (_, other) = cache
        .begin(&settings, CLIENT_SECRET, REDIRECT_URI, NOW)
        .await
        .unwrap();
    let right_verifier = std::mem::replace(&mut pending.pkce_verifier, other.pkce_verifier);

    let err = cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .unwrap_err();
    let OidcError::TokenRefused { error, description } = &err else {
        panic!("expected the token endpoint's refusal, got {err:?}");
    };
    assert_eq!(error, "invalid_grant");
    assert_eq!(description.as_deref(), Some("grant request is invalid"));
    assert_logged(
        &provider,
        "grant.error invalid_grant: code_verifier does not match code_challenge",
    );
    // The code itself was good: it still works with the right verifier.
    pending.pkce_verifier = right_verifier;
    cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .expect("the right verifier");
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_and_never_shown() {
    let provider = provider(ProviderOptions::default()).await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();
    let (pending, code) = signed_in(&cache, &provider, &settings, "alice@example.com").await;
    let wrong_secret = format!("{CLIENT_SECRET}-but-wrong");

    let err = cache
        .finish(&settings, &wrong_secret, &pending, &code)
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::ClientRejected), "{err:?}");
    assert_logged(
        &provider,
        "grant.error invalid_client: invalid secret provided",
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&wrong_secret), "{shown}");
    assert_no_secret(&err);
    // Refused before the code was looked at: it still works with the right secret.
    cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .expect("the right secret");
}

#[tokio::test]
async fn a_code_works_once() {
    let provider = provider(ProviderOptions::default()).await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();
    let (pending, code) = signed_in(&cache, &provider, &settings, "alice@example.com").await;
    cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .expect("first use");

    let err = cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OidcError::TokenRefused { error, .. } if error == "invalid_grant"),
        "{err:?}"
    );
    assert_logged(
        &provider,
        "grant.error invalid_grant: authorization code already consumed",
    );
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_refused() {
    let provider = provider(ProviderOptions {
        clients: vec![
            client(CLIENT_ID, CLIENT_SECRET),
            client("other-app", "other-app-secret"),
        ],
        ..ProviderOptions::default()
    })
    .await;
    let ours = settings(&provider);
    let theirs = ProviderSettings {
        client_id: "other-app".into(),
        ..ours.clone()
    };
    let cache = ProviderCache::default();
    let (url, pending) = cache
        .begin(&theirs, "other-app-secret", REDIRECT_URI, NOW)
        .await
        .unwrap();
    let code = code(
        &provider.sign_in(url.as_str(), "alice@example.com").await,
        &pending,
    );

    let err = cache
        .finish(&ours, CLIENT_SECRET, &pending, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OidcError::TokenRefused { error, .. } if error == "invalid_grant"),
        "{err:?}"
    );
    assert_logged(&provider, "grant.error invalid_grant: client mismatch");
    // The client it was issued to can redeem it.
    cache
        .finish(&theirs, "other-app-secret", &pending, &code)
        .await
        .expect("the code's own client");
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    // The token endpoint accepts our credentials, but the ID token names another client.
    let provider = provider(ProviderOptions {
        id_token_audience: Some("someone-else".into()),
        ..ProviderOptions::default()
    })
    .await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();
    let (pending, code) = signed_in(&cache, &provider, &settings, "alice@example.com").await;

    let err = cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .unwrap_err();
    let OidcError::InvalidIdToken(IdTokenProblem::Audience(detail)) = &err else {
        panic!("expected an audience mismatch, got {err:?}");
    };
    assert!(detail.contains("someone-else"), "{detail}");
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    // The provider's clock runs two minutes late and its ID tokens last one.
    let provider = provider(ProviderOptions {
        clock_skew_secs: Some(-120),
        id_token_ttl_secs: Some(60),
        ..ProviderOptions::default()
    })
    .await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();
    let (pending, code) = signed_in(&cache, &provider, &settings, "alice@example.com").await;

    let err = cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OidcError::InvalidIdToken(IdTokenProblem::Expired(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_issuer_fails_fast_at_discovery() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let settings = ProviderSettings {
        issuer_url: format!("http://127.0.0.1:{port}"),
        client_id: CLIENT_ID.into(),
    };
    let cache = ProviderCache::default();
    let started = Instant::now();
    let err = cache
        .begin(&settings, CLIENT_SECRET, REDIRECT_URI, NOW)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, OidcError::Discovery { .. }), "{err:?}");
    assert_no_secret(&err);
    eprintln!("{err}");

    // finish needs the metadata too, and fails the same way.
    let pending = PendingLogin {
        state: "s".into(),
        nonce: "n".into(),
        pkce_verifier: "v".repeat(43),
        redirect_uri: REDIRECT_URI.into(),
        created_at: NOW,
    };
    let err = cache
        .finish(&settings, CLIENT_SECRET, &pending, "code")
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::Discovery { .. }), "{err:?}");
    assert_eq!(cache.stats(), CacheStats::default());
}

#[tokio::test]
async fn an_issuer_that_differs_from_the_providers_is_refused_at_discovery() {
    let provider = provider(ProviderOptions::default()).await;
    // A trailing slash: the discovery document is found, but names the issuer without one.
    let settings = ProviderSettings {
        issuer_url: format!("{}/", provider.issuer()),
        client_id: CLIENT_ID.into(),
    };
    let err = ProviderCache::default()
        .begin(&settings, CLIENT_SECRET, REDIRECT_URI, NOW)
        .await
        .unwrap_err();
    let OidcError::Discovery { reason, .. } = &err else {
        panic!("expected a discovery error, got {err:?}");
    };
    assert!(reason.contains("issuer"), "{reason}");
    eprintln!("{err}");
}

#[tokio::test]
async fn two_sign_ins_discover_once() {
    let provider = provider(ProviderOptions::default()).await;
    let settings = settings(&provider);
    let cache = ProviderCache::default();
    cache.check(&settings).await.expect("check");
    let (pending, code) = signed_in(&cache, &provider, &settings, "alice@example.com").await;
    cache
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .unwrap();
    cache
        .begin(&settings, CLIENT_SECRET, REDIRECT_URI, NOW)
        .await
        .unwrap();

    assert_eq!(
        cache.stats(),
        CacheStats {
            discoveries: 1,
            jwks_refreshes: 0
        }
    );
    assert_eq!(
        provider
            .request_count("/.well-known/openid-configuration")
            .await,
        1
    );
    assert_eq!(provider.request_count("/jwks").await, 1);
}

#[tokio::test]
async fn metadata_is_fetched_again_after_its_ttl() {
    let provider = provider(ProviderOptions::default()).await;
    let settings = settings(&provider);
    let cache = ProviderCache::with_timing(CacheTiming {
        metadata_ttl: Duration::ZERO,
        ..CacheTiming::default()
    });
    for _ in 0..2 {
        cache
            .begin(&settings, CLIENT_SECRET, REDIRECT_URI, NOW)
            .await
            .unwrap();
    }
    assert_eq!(cache.stats().discoveries, 2);
    assert_eq!(
        provider
            .request_count("/.well-known/openid-configuration")
            .await,
        2
    );
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_once_but_not_more_than_once_a_minute() {
    let mut provider = provider(ProviderOptions {
        claims_in_id_token: true,
        ..ProviderOptions::default()
    })
    .await;
    let settings = settings(&provider);
    // `eager` may refetch the JWKS at once; `default` only a minute after its last fetch.
    let eager = ProviderCache::with_timing(CacheTiming {
        min_jwks_refresh_interval: Duration::ZERO,
        ..CacheTiming::default()
    });
    let default = ProviderCache::default();
    eager.check(&settings).await.unwrap();
    default.check(&settings).await.unwrap();

    // Same issuer, a new signing key (its kid unknown to both caches).
    provider.restart().await;

    let (pending, code) = signed_in(&eager, &provider, &settings, "alice@example.com").await;
    let identity = eager
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .expect("the new key is fetched");
    assert_eq!(identity.subject, "alice-sub");
    assert_eq!(
        eager.stats(),
        CacheStats {
            discoveries: 1,
            jwks_refreshes: 1
        }
    );
    assert_eq!(provider.request_count("/jwks").await, 1);

    let (pending, code) = signed_in(&default, &provider, &settings, "alice@example.com").await;
    let err = default
        .finish(&settings, CLIENT_SECRET, &pending, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OidcError::InvalidIdToken(IdTokenProblem::UnknownKey)),
        "{err:?}"
    );
    assert_eq!(default.stats().jwks_refreshes, 0);
    assert_eq!(
        provider.request_count("/jwks").await,
        1,
        "no JWKS request within a minute of the last"
    );
    assert_eq!(
        provider
            .request_count("/.well-known/openid-configuration")
            .await,
        0
    );
}
