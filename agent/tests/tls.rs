//! The agent's HTTPS client against real rustls servers on loopback: mTLS for a plain GET (the
//! Fleet connection) and for the TUF updater, `--insecure`, and extra trusted roots.

mod common;

use agent::paths::RootDir;
use agent::tls::{http_client, TlsOptions};
use agent::updates::{Component, FailurePolicy, UpdateOutcome, UpdateSettings, Updater};
use common::pki::{self_signed_server, Pki};
use common::server::FileServer;
use common::tuf::{in_days, Published, TufRepo};
use common::{assert_file, installs, script};
use tempfile::TempDir;

fn assert_fails_with(result: Result<String, String>, reason: &str) {
    match result {
        Ok(body) => panic!("expected a failure ({reason}), got {body:?}"),
        Err(error) => assert!(
            error.contains(reason),
            "{error:?} should mention {reason:?}"
        ),
    }
}

fn web_dir() -> TempDir {
    let dir = TempDir::new().expect("temp dir");
    std::fs::write(dir.path().join("hello.txt"), "hello over TLS").expect("write");
    dir
}

/// The error and all its causes: the TLS reason is a few levels down in reqwest's error.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

async fn get(options: &TlsOptions, url: &str) -> Result<String, String> {
    let client = http_client(options).map_err(|e| format!("client: {e}"))?;
    let response = client
        .get(format!("{url}/hello.txt"))
        .send()
        .await
        .map_err(|e| chain(&e))?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    response.text().await.map_err(|e| format!("body: {e}"))
}

#[tokio::test]
async fn mtls_get_succeeds_only_with_the_client_certificate() {
    let certs = TempDir::new().expect("temp dir");
    let pki = Pki::new(certs.path(), "fleet");
    let web = web_dir();
    let server = FileServer::https(web.path(), pki.mtls_server_config(&pki));

    let with_identity = TlsOptions {
        extra_roots: Some(pki.ca_pem.clone()),
        client_identity: Some((
            pki.client.certificate_pem.clone(),
            pki.client.key_pem.clone(),
        )),
        insecure: false,
    };
    assert_eq!(
        get(&with_identity, &server.url).await,
        Ok("hello over TLS".to_owned())
    );

    let without_identity = TlsOptions {
        client_identity: None,
        ..with_identity.clone()
    };
    assert_fails_with(
        get(&without_identity, &server.url).await,
        "CertificateRequired",
    );

    // A certificate from another authority is refused as well.
    let stranger = Pki::new(certs.path(), "stranger");
    let wrong_identity = TlsOptions {
        client_identity: Some((
            stranger.client.certificate_pem.clone(),
            stranger.client.key_pem.clone(),
        )),
        ..with_identity
    };
    assert_fails_with(get(&wrong_identity, &server.url).await, "UnknownCA");
}

#[tokio::test]
async fn the_updater_uses_the_update_client_certificate() {
    let certs = TempDir::new().expect("temp dir");
    let pki = Pki::new(certs.path(), "updates");
    let repo = TufRepo::new().await;
    let name = "osqueryd/linux/stable/osqueryd";
    let v1 = script("osqueryd", "5.12.1");
    repo.publish(
        1,
        &[Published {
            name,
            bytes: &v1,
            version: None,
        }],
        in_days(7),
    )
    .await;
    let server = FileServer::https(&repo.dir, pki.mtls_server_config(&pki));
    let root = TempDir::new().expect("root dir");
    let tls = TlsOptions {
        extra_roots: Some(pki.ca_pem.clone()),
        client_identity: Some((
            pki.client.certificate_pem.clone(),
            pki.client.key_pem.clone(),
        )),
        insecure: false,
    };
    let settings = UpdateSettings {
        root: RootDir::new(root.path()),
        update_url: server.url.clone(),
        trusted_root: repo.root_json.clone(),
        tls: tls.clone(),
        platform: "linux".to_owned(),
        failure_policy: FailurePolicy::default(),
    };
    let path = root.path().join("bin/osqueryd/linux/stable/osqueryd");

    let mut updater = Updater::new(settings.clone());
    let outcome = updater.update(Component::Osqueryd, "stable").await;
    assert_eq!(
        outcome,
        UpdateOutcome::Installed {
            path: path.clone(),
            version: None
        }
    );
    assert_file(&path, &v1);

    let v2 = script("osqueryd", "5.13.0");
    repo.publish(
        2,
        &[Published {
            name,
            bytes: &v2,
            version: None,
        }],
        in_days(7),
    )
    .await;
    let mut without_certificate = Updater::new(UpdateSettings {
        tls: TlsOptions {
            client_identity: None,
            ..tls
        },
        ..settings
    });
    let outcome = without_certificate
        .update(Component::Osqueryd, "stable")
        .await;
    match &outcome {
        UpdateOutcome::Kept { path: kept, reason } => {
            assert_eq!(kept.as_deref(), Some(path.as_path()));
            assert!(reason.contains("CertificateRequired"), "{reason}");
        }
        other => panic!("expected Kept, got {other:?}"),
    }
    assert_file(&path, &v1);
    assert_eq!(server.hits(&format!("targets/{name}")), 1);

    // The same updater with its certificate picks the new version up.
    installs(&mut updater, &path, &v2).await;
}

#[tokio::test]
async fn insecure_accepts_a_self_signed_server_only_when_asked() {
    let certs = TempDir::new().expect("temp dir");
    let (_pem, config) = self_signed_server(certs.path());
    let web = web_dir();
    let server = FileServer::https(web.path(), config);

    assert_fails_with(
        get(&TlsOptions::default(), &server.url).await,
        "UnknownIssuer",
    );
    let insecure = TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    };
    assert_eq!(
        get(&insecure, &server.url).await,
        Ok("hello over TLS".to_owned())
    );
}

#[tokio::test]
async fn extra_roots_trust_a_private_ca_or_a_self_signed_server() {
    let certs = TempDir::new().expect("temp dir");
    let pki = Pki::new(certs.path(), "private");
    let web = web_dir();
    let server = FileServer::https(web.path(), pki.server_config());

    assert_fails_with(
        get(&TlsOptions::default(), &server.url).await,
        "UnknownIssuer",
    );
    let private_ca = TlsOptions {
        extra_roots: Some(pki.ca_pem.clone()),
        ..TlsOptions::default()
    };
    assert_eq!(
        get(&private_ca, &server.url).await,
        Ok("hello over TLS".to_owned())
    );
    // Another CA's bundle does not make this server trusted.
    let other = Pki::new(certs.path(), "other");
    let other_ca = TlsOptions {
        extra_roots: Some(other.ca_pem.clone()),
        ..TlsOptions::default()
    };
    assert_fails_with(get(&other_ca, &server.url).await, "UnknownIssuer");

    // `--fleet-certificate` pointing at a self-signed server certificate.
    let (pem, config) = self_signed_server(certs.path());
    let self_signed = FileServer::https(web.path(), config);
    let pinned = TlsOptions {
        extra_roots: Some(pem),
        ..TlsOptions::default()
    };
    assert_eq!(
        get(&pinned, &self_signed.url).await,
        Ok("hello over TLS".to_owned())
    );
}

#[tokio::test]
async fn unreadable_tls_files_are_errors_not_panics() {
    let certs = TempDir::new().expect("temp dir");
    let missing = TlsOptions {
        extra_roots: Some(certs.path().join("missing.pem")),
        ..TlsOptions::default()
    };
    assert!(matches!(
        http_client(&missing),
        Err(agent::tls::TlsError::Certificates(..))
    ));
    let empty = certs.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let no_certificate = TlsOptions {
        extra_roots: Some(empty),
        ..TlsOptions::default()
    };
    assert!(matches!(
        http_client(&no_certificate),
        Err(agent::tls::TlsError::NoCertificate(..))
    ));
}
