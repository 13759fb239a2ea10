//! The packager service through its API (create, status, download) on both adapter families,
//! building from a real TUF repository served on loopback, with the worker's jobs run as the
//! queue delivers them. The installers' contents are checked in depth by packager/tests; here
//! the real tools confirm that what comes out of the API is the installer asked for.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

use crate::{server, tuf};
use flotilla::domain::packages::targets::CACHE_PREFIX;
use flotilla::jobs::Job;
use flotilla_tests::both;
use flotilla_tests::harness::{Family, Flotilla, Setup};
use flotilla_tests::moto as moto_server;
use flotilla_tests::notary_stand_in::{ApiKey, NotaryStandIn};
use packager::pkg::sign::verify;
use server::{dead_url, FileServer};
use tuf::{in_days, Published, TufRepo};

const SECRET: &str = "packager-test-secret-9f3a";

/// A bundle archive holding one script, `<dir>/Contents/MacOS/<exec>`, as the macOS targets are.
fn tar_gz(dir: &str, exec: &str) -> Vec<u8> {
    let body = format!("#!/bin/sh\necho {exec}\n");
    tuf::tar_gz(&[(&format!("{dir}/Contents/MacOS/{exec}"), body.as_bytes())])
}

struct Repository {
    repo: TufRepo,
    server: FileServer,
}

async fn repository() -> Repository {
    let repo = TufRepo::new().await;
    let osqueryd: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let osquery_app = tar_gz("osquery.app", "osqueryd");
    let desktop_app = tar_gz("Fleet Desktop.app", "fleet-desktop");
    let published = [
        (
            "orbit/linux/stable/orbit",
            b"orbit for linux".to_vec(),
            Some("1.38.0"),
        ),
        ("osqueryd/linux/stable/osqueryd", osqueryd.clone(), None),
        (
            "desktop/linux/stable/desktop.tar.gz",
            tar_gz("fleet-desktop", "fleet-desktop"),
            None,
        ),
        (
            "orbit/macos/stable/orbit",
            b"orbit for macos".to_vec(),
            Some("1.38.0"),
        ),
        (
            "osqueryd/macos-app/stable/osqueryd.app.tar.gz",
            osquery_app,
            None,
        ),
        ("desktop/macos/stable/desktop.app.tar.gz", desktop_app, None),
        (
            "orbit/windows/stable/orbit.exe",
            b"orbit for windows".to_vec(),
            Some("1.38.0"),
        ),
        ("osqueryd/windows/stable/osqueryd.exe", osqueryd, None),
        (
            "desktop/windows/stable/fleet-desktop.exe",
            b"desktop.exe".to_vec(),
            None,
        ),
    ];
    let targets: Vec<Published> = published
        .iter()
        .map(|(name, bytes, version)| Published {
            name,
            bytes,
            version: *version,
        })
        .collect();
    repo.publish(1, &targets, in_days(7)).await;
    let server = FileServer::http(&repo.dir);
    Repository { repo, server }
}

impl Repository {
    fn root(&self) -> String {
        String::from_utf8(self.repo.root_json.clone()).expect("root json")
    }

    fn request(&self, kind: &str) -> Value {
        json!({
            "type": kind,
            "fleet_url": "https://fleet.example.com",
            "enroll_secret": SECRET,
            "update-url": self.server.url,
            "update-roots": self.root(),
        })
    }
}

async fn call(f: &Flotilla, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    f.admin_as(None, method, path, body).await
}

async fn create(f: &Flotilla, body: Value) -> String {
    let (status, answer) = call(f, "POST", "/create", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["package_id"]
        .as_str()
        .expect("package_id")
        .to_string()
}

async fn status(f: &Flotilla, id: &str) -> Value {
    let (code, answer) = call(f, "GET", &format!("/status?package_id={id}"), None).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    answer
}

/// Runs the queued jobs (the packager worker's) and answers the package's status.
async fn built(f: &Flotilla, id: &str) -> Value {
    f.run_jobs().await;
    status(f, id).await
}

/// Follows the download: the bytes locally, a presigned URL (303) on AWS.
async fn download(f: &Flotilla, id: &str) -> (String, Vec<u8>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/download/{id}", f.base))
        .send()
        .await
        .expect("download");
    let response = match f.family {
        Family::Embedded => response,
        Family::Moto => {
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let location = response.headers()["location"]
                .to_str()
                .expect("location")
                .to_string();
            assert!(location.contains("X-Amz-Expires=300"), "{location}");
            client.get(location).send().await.expect("presigned GET")
        }
    };
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    (disposition, response.bytes().await.expect("bytes").to_vec())
}

fn tool(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (tests/run installs it): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn deb_and_rpm_are_built_and_downloaded(family: Family) {
    let f = Flotilla::start(family).await;
    let repository = repository().await;
    let dir = tempfile::tempdir().expect("tempdir");

    let deb = create(&f, repository.request("deb")).await;
    assert_eq!(
        status(&f, &deb).await,
        json!({"status": "in-progress", "stage": "queued"})
    );
    let answer = built(&f, &deb).await;
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["download_url"], format!("{}/download/{deb}", f.base));
    let (disposition, bytes) = download(&f, &deb).await;
    if family == Family::Embedded {
        assert!(
            disposition.contains("fleet-osquery_1.38.0_amd64.deb"),
            "{disposition}"
        );
    }
    let path = dir.path().join("fleet-osquery.deb");
    std::fs::write(&path, &bytes).expect("write deb");
    let info = tool("dpkg-deb", &["--info", path.to_str().expect("path")]);
    assert!(info.contains("Version: 1.38.0"), "{info}");
    let extracted = dir.path().join("deb");
    tool(
        "dpkg-deb",
        &[
            "-x",
            path.to_str().expect("path"),
            extracted.to_str().expect("dir"),
        ],
    );
    let env = std::fs::read_to_string(extracted.join("etc/default/orbit")).expect("env file");
    assert!(
        env.contains(&format!("ORBIT_ENROLL_SECRET={SECRET}")),
        "{env}"
    );
    assert!(
        env.contains(&format!("ORBIT_UPDATE_URL={}", repository.server.url)),
        "{env}"
    );
    assert_eq!(
        std::fs::read(extracted.join("opt/orbit/tuf-root.json")).expect("root"),
        repository.repo.root_json
    );

    // The rpm needs the same Linux targets: all from the cache, metadata not fetched again.
    let osqueryd_hits = repository
        .server
        .hits("targets/osqueryd/linux/stable/osqueryd");
    let timestamp_hits = repository.server.hits("timestamp.json");
    assert_eq!(osqueryd_hits, 1);
    let rpm = create(&f, repository.request("rpm")).await;
    assert_ne!(rpm, deb);
    assert_eq!(built(&f, &rpm).await["status"], "success");
    assert_eq!(
        repository
            .server
            .hits("targets/osqueryd/linux/stable/osqueryd"),
        1
    );
    assert_eq!(repository.server.hits("timestamp.json"), timestamp_hits);
    let (_, bytes) = download(&f, &rpm).await;
    let path = dir.path().join("fleet-osquery.rpm");
    std::fs::write(&path, &bytes).expect("write rpm");
    let info = tool("rpm", &["-qpi", path.to_str().expect("path")]);
    assert!(info.contains("fleet-osquery"), "{info}");
    let listing = tool("rpm", &["-qpl", path.to_str().expect("path")]);
    assert!(listing.contains("/etc/default/orbit"), "{listing}");
    assert!(tool(
        "rpm",
        &["-K", "--nosignature", path.to_str().expect("path")]
    )
    .contains("OK"));

    // The cache holds the targets by SHA-256.
    let cached = f
        .jobs
        .ports
        .blobs
        .list(CACHE_PREFIX)
        .await
        .expect("list cache");
    assert_eq!(cached.len(), 2, "{cached:?}");
}

async fn pkg_and_msi_are_built_and_downloaded(family: Family) {
    let f = Flotilla::start(family).await;
    let repository = repository().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut request = repository.request("pkg");
    request["fleet_desktop"] = json!(true);
    let pkg = create(&f, request).await;
    let msi = create(&f, repository.request("msi")).await;
    f.run_jobs().await;
    for id in [&pkg, &msi] {
        let answer = status(&f, id).await;
        assert_eq!(answer["status"], "success", "{answer}");
    }

    let (disposition, bytes) = download(&f, &pkg).await;
    if family == Family::Embedded {
        assert!(disposition.contains("fleet-osquery.pkg"), "{disposition}");
    }
    let path = dir.path().join("fleet-osquery.pkg");
    std::fs::write(&path, &bytes).expect("write pkg");
    assert!(
        verify(&path).is_err(),
        "unsigned: the deployment has no signing identity"
    );
    let listing = tool("7z", &["l", path.to_str().expect("path")]);
    for member in [
        "Distribution",
        "base.pkg/Payload",
        "base.pkg/Bom",
        "base.pkg/Scripts",
    ] {
        assert!(listing.contains(member), "{member} in\n{listing}");
    }
    let expanded = dir.path().join("pkg");
    tool(
        "7z",
        &[
            "x",
            "-y",
            &format!("-o{}", expanded.display()),
            path.to_str().expect("path"),
        ],
    );
    let payload = std::fs::read(expanded.join("base.pkg/Payload")).expect("payload");
    let mut cpio = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&payload[..]), &mut cpio)
        .expect("gzip payload");
    let files = String::from_utf8_lossy(&cpio);
    assert!(files.contains("opt/orbit/secret.txt"));
    assert!(
        files.contains("osquery.app/Contents/MacOS/osqueryd"),
        "unpacked app"
    );
    assert!(files.contains("Fleet Desktop.app/Contents/MacOS/fleet-desktop"));
    assert!(files.contains("Library/LaunchDaemons/com.fleetdm.orbit.plist"));

    let (_, bytes) = download(&f, &msi).await;
    let path = dir.path().join("fleet-osquery.msi");
    std::fs::write(&path, &bytes).expect("write msi");
    let services = tool(
        "msiinfo",
        &["export", path.to_str().expect("path"), "ServiceInstall"],
    );
    assert!(services.contains("Fleet osquery"), "{services}");
    assert!(
        services.contains("--fleet-url \"[FLEET_URL]\""),
        "{services}"
    );
    let properties = tool(
        "msiinfo",
        &["export", path.to_str().expect("path"), "Property"],
    );
    assert!(
        properties.contains("FLEET_URL\thttps://fleet.example.com"),
        "{properties}"
    );
    let extracted = dir.path().join("msi");
    tool(
        "msiextract",
        &[
            "-C",
            extracted.to_str().expect("dir"),
            path.to_str().expect("path"),
        ],
    );
    let secret = files_named(&extracted, "secret.txt");
    assert_eq!(
        std::fs::read_to_string(&secret).expect("secret.txt").trim(),
        SECRET
    );
}

fn files_named(root: &std::path::Path, name: &str) -> std::path::PathBuf {
    flotilla_tests::harness::files_under(root)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("{name} under {}", root.display()))
}

async fn identical_arguments_share_a_package(family: Family) {
    let f = Flotilla::start(family).await;
    let repository = repository().await;
    let first = create(&f, repository.request("deb")).await;
    let mut underscored = repository.request("deb");
    let object = underscored.as_object_mut().expect("object");
    let url = object.remove("update-url").expect("url");
    let roots = object.remove("update-roots").expect("roots");
    object.insert("update_url".into(), url);
    object.insert("update_roots".into(), roots);
    object.insert("fleet-desktop".into(), json!(false));
    assert_eq!(
        create(&f, underscored).await,
        first,
        "the other spelling and a default"
    );
    let mut other = repository.request("deb");
    other["debug"] = json!(true);
    assert_ne!(create(&f, other).await, first);

    // Nothing in the state table holds the secret (the dedupe key is a keyed hash).
    if let Some((sdk, names)) = &f.aws {
        let scan = aws_sdk_dynamodb::Client::new(sdk)
            .scan()
            .table_name(&names.table)
            .send()
            .await
            .expect("scan");
        let dump = format!("{:?}", scan.items());
        assert!(dump.contains(&first), "the package is in the table");
        assert!(!dump.contains(SECRET), "the secret is not");
    }
}

async fn a_dead_update_server_fails_with_logs_and_retry_starts_again(family: Family) {
    let f = Flotilla::start(family).await;
    let repository = repository().await;
    let mut request = repository.request("deb");
    request["update_url"] = json!(dead_url());
    request
        .as_object_mut()
        .expect("object")
        .remove("update-url");
    let id = create(&f, request.clone()).await;
    let answer = built(&f, &id).await;
    assert_eq!(answer["status"], "fail", "{answer}");
    let logs = answer["logs"].as_str().expect("logs");
    assert!(logs.contains("loading the update repository"), "{logs}");
    assert!(!logs.contains(SECRET));
    let (code, _) = call(&f, "GET", &format!("/download/{id}"), None).await;
    assert_eq!(code, StatusCode::CONFLICT);

    assert_eq!(
        create(&f, request.clone()).await,
        id,
        "a failure is returned as is"
    );
    request["retry"] = json!(true);
    let again = create(&f, request).await;
    assert_ne!(again, id, "retry starts a new package");
    assert_eq!(status(&f, &again).await["status"], "in-progress");
}

async fn packages_expire_and_the_sweep_deletes_them(family: Family) {
    let f = Flotilla::start(family).await;
    let repository = repository().await;
    let id = create(&f, repository.request("deb")).await;
    assert_eq!(built(&f, &id).await["status"], "success");
    let blobs = &f.jobs.ports.blobs;
    let prefix = format!("packages/{id}/");
    assert_eq!(
        blobs.list(&prefix).await.expect("list").len(),
        2,
        "arguments and installer"
    );

    f.advance_secs(30 * 60);
    assert_eq!(status(&f, &id).await, json!({"status": "expired"}));
    let (code, answer) = call(&f, "GET", &format!("/download/{id}"), None).await;
    assert_eq!(code, StatusCode::GONE, "{answer}");

    f.jobs
        .ports
        .queue
        .send(&Job::SweepPackages.to_message().expect("message"))
        .await
        .expect("send");
    f.run_jobs().await;
    assert!(blobs.list(&prefix).await.expect("list").is_empty(), "swept");
    assert_eq!(status(&f, &id).await["status"], "expired");
    // The dedupe entry went with it: the same arguments make a new package.
    assert_ne!(create(&f, repository.request("deb")).await, id);
}

async fn a_redelivered_build_changes_nothing(family: Family) {
    let f = Flotilla::start(family).await;
    let repository = repository().await;
    let id = create(&f, repository.request("rpm")).await;
    let job = Job::BuildPackage {
        package: id.clone(),
    }
    .to_message()
    .expect("message");
    f.jobs.ports.packager_queue.send(&job).await.expect("send");
    // Two deliveries of the same build: the second finds it done.
    assert_eq!(f.run_jobs().await, 2);
    assert_eq!(status(&f, &id).await["status"], "success");
    let (_, first) = download(&f, &id).await;
    f.jobs.ports.packager_queue.send(&job).await.expect("send");
    assert_eq!(f.run_jobs().await, 1);
    let (_, second) = download(&f, &id).await;
    assert_eq!(first, second);
    assert_eq!(
        repository.server.hits("targets/orbit/linux/stable/orbit"),
        1
    );
}

async fn rate_limits_answer_429(family: Family) {
    let f = Flotilla::start(family).await;
    for _ in 0..60 {
        let (code, _) = call(&f, "POST", "/create", Some(json!({}))).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
    }
    let response = f
        .http()
        .post(format!("{}/create", f.base))
        .json(&json!({}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = response.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry));

    let id = uuid::Uuid::new_v4();
    for _ in 0..30 {
        let (code, _) = call(&f, "GET", &format!("/download/{id}"), None).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
    }
    let (code, answer) = call(&f, "GET", &format!("/download/{id}"), None).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    // Per package: another package id is not limited.
    let (code, _) = call(
        &f,
        "GET",
        &format!("/download/{}", uuid::Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

async fn every_bad_field_is_refused_by_name(family: Family) {
    let f = Flotilla::start(family).await;
    let repository = repository().await;
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let cases: Vec<(Value, &str)> = vec![
        (json!({"type": null}), "type"),
        (json!({"type": "exe"}), "type"),
        (json!({"fleet_url": null}), "fleet_url"),
        (json!({"fleet_url": "ftp://fleet.example.com"}), "fleet_url"),
        (json!({"fleet_url": "not a url"}), "fleet_url"),
        (json!({"enroll_secret": null}), "enroll_secret"),
        (json!({"enroll_secret": "two words"}), "enroll_secret"),
        (json!({"enroll_secret": "x".repeat(513)}), "enroll_secret"),
        (json!({"retry": "yes"}), "retry"),
        (json!({"fleet-certificate": "not pem"}), "fleet_certificate"),
        (json!({"insecure": 1}), "insecure"),
        (
            json!({"osqueryd-channel": "stable\nX=1"}),
            "osqueryd_channel",
        ),
        (json!({"desktop-channel": "../edge"}), "desktop_channel"),
        (json!({"orbit-channel": "edge channel"}), "orbit_channel"),
        (json!({"disable-updates": "true"}), "disable_updates"),
        (json!({"debug": []}), "debug"),
        (json!({"fleet-desktop": "no"}), "fleet_desktop"),
        (json!({"update-interval": "often"}), "update_interval"),
        (json!({"update-interval": "0s"}), "update_interval"),
        (
            json!({"osquery-flagfile": "x".repeat(70_000)}),
            "osquery_flagfile",
        ),
        (json!({"service": "false"}), "service"),
        (
            json!({"fleet-tls-client-certificate": pem}),
            "fleet_tls_client_certificate",
        ),
        (
            json!({"update-tls-client-key": "-----BEGIN PRIVATE KEY-----"}),
            "update_tls_client_certificate",
        ),
        (
            json!({"fleet-desktop-alternative-browser-host": "https://x/"}),
            "fleet_desktop_alternative_browser_host",
        ),
        (json!({"update-url": "file:///etc"}), "update_url"),
        (
            json!({"update-roots": "{\"signed\":{\"_type\":\"targets\"}}"}),
            "update_roots",
        ),
        (json!({"update-roots": 7}), "update_roots"),
        (json!({"host_identifier": "hostname"}), "host_identifier"),
        (json!({"colour": "red"}), "colour"),
        (
            json!({"fleet-url": "https://a.example.com", "fleet_url": "https://b.example.com"}),
            "fleet_url",
        ),
    ];
    for (change, field) in cases {
        let mut body = repository.request("deb");
        for (name, value) in change.as_object().expect("object") {
            if value.is_null() {
                body.as_object_mut().expect("object").remove(name);
            } else {
                body[name] = value.clone();
            }
        }
        let (code, answer) = call(&f, "POST", "/create", Some(body.clone())).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error"].as_str().expect("error");
        assert!(message.contains(field), "{field} named in {message:?}");
    }
    let (code, answer) = call(&f, "POST", "/create", Some(json!([1]))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
    let (code, _) = call(&f, "GET", "/status?package_id=../../etc", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = call(&f, "GET", "/status", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = call(
        &f,
        "GET",
        &format!("/status?package_id={}", uuid::Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    // Without update_roots and without a deployment root there is nothing to trust.
    let mut body = repository.request("deb");
    body.as_object_mut().expect("object").remove("update-roots");
    let (code, answer) = call(&f, "POST", "/create", Some(body)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(answer["error"]
        .as_str()
        .unwrap_or_default()
        .contains("update_roots"));
}

async fn the_config_names_the_packager(family: Family) {
    let f = Flotilla::start(family).await;
    let (code, config) = f.admin("GET", "/api/v1/fleet/config", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(config["packager_url"], json!(f.base));
}

both!(
    deb_and_rpm_are_built_and_downloaded,
    pkg_and_msi_are_built_and_downloaded,
    identical_arguments_share_a_package,
    a_dead_update_server_fails_with_logs_and_retry_starts_again,
    packages_expire_and_the_sweep_deletes_them,
    a_redelivered_build_changes_nothing,
    rate_limits_answer_429,
    every_bad_field_is_refused_by_name,
    the_config_names_the_packager,
    a_pkg_is_signed_when_the_deployment_has_an_identity,
    a_signed_pkg_is_notarized_before_it_is_ready,
    a_refused_notarization_fails_with_apples_log,
    notary_credentials_apple_refuses_fail_the_package,
);

// ---------------------------------------------------------------- signing and notarization

const SIGNER: &str = "Developer ID Installer: Flotilla Test (TEST123456)";

/// A Developer ID Installer stand-in identity: a self-signed RSA certificate and its key (PEM).
fn signing_identity() -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, SIGNER);
    let certificate = params.self_signed(&key).expect("certificate");
    format!("{}{}", certificate.pem(), key.serialize_pem())
}

/// An App Store Connect API key (EC P-256), as Apple issues them.
fn api_key() -> ApiKey {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    ApiKey::generate(key.serialize_pem(), key.public_key_pem())
}

/// The time between notarization checks in these tests (SQS delays are whole seconds).
const POLL_SECS: u64 = 3;

/// A deployment that signs with `signing` (a secret name that may be missing) and, given a
/// stand-in, notarizes through it.
async fn signing_deployment(
    family: Family,
    identity: Option<String>,
    notary: Option<(&NotaryStandIn, &ApiKey)>,
) -> Flotilla {
    let mut secrets = Vec::new();
    if let Some(pem) = identity {
        secrets.push(("signing".to_string(), pem));
    }
    let mut notary_settings = None;
    if let Some((stand_in, key)) = notary {
        secrets.push(("notary".to_string(), key.credentials_json.clone()));
        notary_settings = Some((stand_in.url.clone(), moto_server::endpoint().await));
    }
    Flotilla::start_with(
        family,
        Setup {
            secrets,
            settings: Some(Box::new(move |settings, name| {
                let packager = &mut settings.packager;
                packager.signing_secret = Some(name("signing"));
                // Offline: no time-stamp server.
                packager.timestamp_url = None;
                if let Some((url, upload)) = &notary_settings {
                    packager.notary_secret = Some(name("notary"));
                    packager.notary_url = url.clone();
                    packager.notary_upload_endpoint = Some(upload.clone());
                    packager.notary_poll = std::time::Duration::from_secs(POLL_SECS);
                }
            })),
        },
    )
    .await
}

/// Downloads the package and checks its signatures; answers the path and the signer's name.
async fn verified_download(
    f: &Flotilla,
    id: &str,
    dir: &std::path::Path,
) -> (std::path::PathBuf, String) {
    let (_, bytes) = download(f, id).await;
    let path = dir.join(format!("{id}.pkg"));
    std::fs::write(&path, &bytes).expect("write pkg");
    let signer = verify(&path).expect("the downloaded package verifies");
    let listing = tool("7z", &["l", path.to_str().expect("path")]);
    assert!(listing.contains("base.pkg/Payload"), "{listing}");
    (path, signer.subject_common_name().unwrap_or_default())
}

async fn a_pkg_is_signed_when_the_deployment_has_an_identity(family: Family) {
    let repository = repository().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = signing_identity();
    let f = signing_deployment(family, Some(identity.clone()), None).await;
    let pkg = create(&f, repository.request("pkg")).await;
    let deb = create(&f, repository.request("deb")).await;
    f.run_jobs().await;
    for id in [&pkg, &deb] {
        let answer = status(&f, id).await;
        assert_eq!(answer["status"], "success", "{answer}");
    }
    let (_, signer) = verified_download(&f, &pkg, dir.path()).await;
    assert_eq!(signer, SIGNER);

    // A deployment naming an identity that is not in the secret store: a readable failure
    // that shows no key material.
    let f = signing_deployment(family, None, None).await;
    let pkg = create(&f, repository.request("pkg")).await;
    let answer = built(&f, &pkg).await;
    assert_eq!(answer["status"], "fail", "{answer}");
    let logs = answer["logs"].as_str().expect("logs");
    assert!(logs.contains("signing identity secret"), "{logs}");
    assert!(logs.contains("does not exist"), "{logs}");
    assert!(!logs.contains("PRIVATE KEY"), "{logs}");
}

async fn a_signed_pkg_is_notarized_before_it_is_ready(family: Family) {
    let repository = repository().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = api_key();
    let stand_in = NotaryStandIn::start(&key, &moto_server::sdk_config().await, false).await;
    let f = signing_deployment(family, Some(signing_identity()), Some((&stand_in, &key))).await;
    let pkg = create(&f, repository.request("pkg")).await;

    // The worker signs, stores and submits the installer, then leaves Apple to work.
    assert_eq!(
        built(&f, &pkg).await,
        json!({"status": "in-progress", "stage": "notarizing"})
    );
    let submissions = stand_in.submissions();
    assert_eq!(submissions.len(), 1, "{submissions:?}");
    assert_eq!(submissions[0].name, "fleet-osquery.pkg");
    let (code, answer) = call(&f, "GET", &format!("/download/{pkg}"), None).await;
    assert_eq!(
        code,
        StatusCode::CONFLICT,
        "not downloadable before Apple's verdict: {answer}"
    );

    // First check: still in progress. Second: accepted.
    f.let_pass(POLL_SECS + 1).await;
    assert_eq!(
        built(&f, &pkg).await,
        json!({"status": "in-progress", "stage": "notarizing"})
    );
    f.let_pass(POLL_SECS + 1).await;
    let answer = built(&f, &pkg).await;
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(stand_in.submissions()[0].status_requests, 2);

    // What is downloaded is what Apple was sent, signed.
    let (path, signer) = verified_download(&f, &pkg, dir.path()).await;
    assert_eq!(signer, SIGNER);
    let sent = &stand_in.submissions()[0].sha256;
    let bytes = std::fs::read(&path).expect("pkg");
    use sha2::Digest;
    assert_eq!(&hex::encode(sha2::Sha256::digest(&bytes)), sent);
    assert_eq!(stand_in.refused_tokens(), 0, "every token was valid");

    // A second delivery of the last check changes nothing.
    let job = Job::CheckNotarization {
        package: pkg.clone(),
    }
    .to_message()
    .expect("job");
    f.jobs.ports.packager_queue.send(&job).await.expect("send");
    f.run_jobs().await;
    assert_eq!(status(&f, &pkg).await["status"], "success");
    assert_eq!(stand_in.submissions()[0].status_requests, 2);
}

async fn a_refused_notarization_fails_with_apples_log(family: Family) {
    let repository = repository().await;
    let key = api_key();
    let stand_in = NotaryStandIn::start(&key, &moto_server::sdk_config().await, true).await;
    let f = signing_deployment(family, Some(signing_identity()), Some((&stand_in, &key))).await;
    let pkg = create(&f, repository.request("pkg")).await;
    assert_eq!(built(&f, &pkg).await["stage"], "notarizing");
    for _ in 0..2 {
        f.let_pass(POLL_SECS + 1).await;
        f.run_jobs().await;
    }
    let answer = status(&f, &pkg).await;
    assert_eq!(answer["status"], "fail", "{answer}");
    let logs = answer["logs"].as_str().expect("logs");
    assert!(logs.contains("\"Invalid\""), "{logs}");
    assert!(logs.contains("SDK older than the 10.9 SDK"), "{logs}");
    assert!(
        logs.contains("Archive contains critical validation errors"),
        "{logs}"
    );
    assert!(!logs.contains("PRIVATE KEY"), "{logs}");
}

async fn notary_credentials_apple_refuses_fail_the_package(family: Family) {
    let repository = repository().await;
    let registered = api_key();
    let stand_in = NotaryStandIn::start(&registered, &moto_server::sdk_config().await, false).await;
    // Same issuer and key id, another private key: Apple's 401.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
    let mut forged = api_key();
    forged.credentials_json = json!({
        "issuer_id": registered.issuer_id,
        "key_id": registered.key_id,
        "private_key": other.serialize_pem(),
    })
    .to_string();
    let f = signing_deployment(family, Some(signing_identity()), Some((&stand_in, &forged))).await;
    let pkg = create(&f, repository.request("pkg")).await;
    let answer = built(&f, &pkg).await;
    assert_eq!(answer["status"], "fail", "{answer}");
    let logs = answer["logs"].as_str().expect("logs");
    assert!(logs.contains("refused the submission: HTTP 401"), "{logs}");
    assert!(!logs.contains("PRIVATE KEY"), "{logs}");
    assert_eq!(stand_in.refused_tokens(), 1);
    assert!(stand_in.submissions().is_empty());
}
