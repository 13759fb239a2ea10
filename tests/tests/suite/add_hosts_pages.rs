//! The Add hosts page driven like a user on both adapter families: a .deb built through the
//! page's form from a TUF repository on loopback (the packager worker's jobs run as the queue
//! delivers them), its stages followed to the download, checked with dpkg-deb; the command
//! lines; plain osquery's files; and the refusals (what a role may not do is neither shown
//! nor accepted).

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

use crate::{server, tuf};
use flotilla_tests::harness::{Family, Flotilla, Setup};
use flotilla_tests::page_client::Browser;
use server::FileServer;
use tuf::{in_days, Published, TufRepo};

flotilla_tests::both!(
    a_deb_is_built_through_the_page,
    plain_osquery_files,
    what_a_role_may_not_do_is_refused,
);

const TEAM_SECRET: &str = "add-hosts-team-secret-7c1e";
const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

struct Repository {
    repo: TufRepo,
    server: FileServer,
}

/// The Linux targets a .deb needs, published in a TUF repository served on loopback.
async fn repository() -> Repository {
    let repo = TufRepo::new().await;
    let osqueryd: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let desktop = tuf::tar_gz(&[(
        "fleet-desktop/Contents/MacOS/fleet-desktop",
        b"#!/bin/sh\n".as_slice(),
    )]);
    let published = [
        (
            "orbit/linux/stable/orbit",
            b"orbit for linux".to_vec(),
            Some("1.38.0"),
        ),
        ("osqueryd/linux/stable/osqueryd", osqueryd, None),
        ("desktop/linux/stable/desktop.tar.gz", desktop, None),
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

/// The deployment builds from `repository` (its root trusted by configuration).
fn building_from(repository: &Repository) -> Setup {
    let url = repository.server.url.clone();
    let root = String::from_utf8(repository.repo.root_json.clone()).expect("root");
    Setup {
        settings: Some(Box::new(move |settings, _| {
            settings.packager.update_url = url.clone();
            settings.packager.update_root = Some(root.clone());
        })),
        ..Setup::default()
    }
}

async fn team_with_secret(f: &Flotilla, name: &str, secret: &str) -> u64 {
    let (status, team) = f
        .admin("POST", "/api/v1/fleet/teams", Some(json!({"name": name})))
        .await;
    assert_eq!(status, StatusCode::OK, "{team}");
    let id = team["team"]["id"].as_u64().expect("team id");
    let (status, answer) = f
        .admin(
            "PATCH",
            &format!("/api/v1/fleet/teams/{id}/secrets"),
            Some(json!({"secrets": [{"secret": secret}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    id
}

fn tool(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The href of the first link whose href starts with `prefix`.
fn link<'a>(body: &'a str, prefix: &str) -> Option<&'a str> {
    let at = body.find(&format!("href=\"{prefix}"))? + "href=\"".len();
    body[at..].split('"').next()
}

async fn a_deb_is_built_through_the_page(family: Family) {
    let repository = repository().await;
    let f = Flotilla::start_with(family, building_from(&repository)).await;
    let team = team_with_secret(&f, "Linux fleet", TEAM_SECRET).await;
    let maintainer = f.user(None, &[(team, "maintainer")]).await;
    let browser = Browser::new(&f, Some(maintainer.token.clone()));

    // The page: tabs as links (the chosen one marked), the team chosen, the build form, the
    // command lines with the team's secret and this server's URL.
    let page = browser
        .get(&format!("/add-hosts?platform=deb&team={team}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(&format!(
            "<a href=\"/add-hosts?platform=deb&amp;team={team}\" aria-current=\"page\">"
        )),
        "the deb tab is current: {}",
        page.body
    );
    assert!(page.body.contains(&format!(
        "href=\"/add-hosts?platform=rpm&amp;team={team}\">"
    )));
    assert!(page.body.contains("action=\"/add-hosts/build\""));
    assert!(page.body.contains("Build Linux (.deb) installer"));
    assert!(
        page.body.contains(&format!(
            "fleetctl package --type=deb --fleet-url={} --enroll-secret={TEAM_SECRET}",
            f.base
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!(
        "flotilla-local package --type=deb --fleet-url={} --enroll-secret={TEAM_SECRET} --update-roots=root.json --update-url={}",
        f.base, repository.server.url
    )));
    // A team maintainer picks among their teams only: no global secrets.
    assert!(!page.body.contains("value=\"global\""));

    // A bad channel comes back with the message and the input kept, and creates nothing.
    let refused = browser
        .post(
            "/add-hosts/build",
            &[
                ("platform", "deb"),
                ("team", &team.to_string()),
                ("orbit_channel", "not a channel!"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused
        .body
        .contains("orbit_channel must be a channel name"));
    assert!(refused.body.contains("value=\"not a channel!\""));
    assert_eq!(f.run_jobs().await, 0, "nothing was queued");

    let built = browser
        .post(
            "/add-hosts/build",
            &[
                ("platform", "deb"),
                ("team", &team.to_string()),
                ("orbit_channel", "stable"),
                ("osqueryd_channel", "stable"),
                ("desktop_channel", "stable"),
            ],
        )
        .await;
    assert_eq!(built.status, StatusCode::SEE_OTHER, "{}", built.body);
    let location = built.location().expect("location").to_string();
    let id = location
        .strip_prefix("/add-hosts/builds/")
        .expect("the build's page")
        .to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // Queued: the full page shows the stage and a Refresh link, and its region refreshes from
    // the fragment, which is not done yet.
    let page = browser.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .contains(&format!("data-refresh=\"/add-hosts/builds/{id}/progress\"")));
    assert!(!page.body.contains("data-done"));
    assert!(page.body.contains("Queued — in progress"), "{}", page.body);
    assert!(page
        .body
        .contains(&format!("href=\"{location}\">Refresh</a>")));
    let progress = format!("/add-hosts/builds/{id}/progress");
    let fragment = browser.get(&progress).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(fragment.body.starts_with("<div>"), "{}", fragment.body);
    assert!(fragment.body.contains("Queued — in progress"));

    // The worker builds it: the fragment is done, with the download link.
    assert!(f.run_jobs().await >= 1);
    let fragment = browser.get(&progress).await;
    assert!(
        fragment.body.starts_with("<div data-done>"),
        "{}",
        fragment.body
    );
    assert!(fragment.body.contains("Building the installer — done"));
    assert!(fragment.body.contains("Your installer is ready."));
    let download = link(&fragment.body, "/download/").expect("a download link");
    assert_eq!(download, format!("/download/{id}"));
    let page = browser.get(&location).await;
    assert!(
        page.body.contains("data-done"),
        "the full page shows it too"
    );
    assert!(!page.body.contains(">Refresh</a>"));

    // Download it as the link does (S3: a redirect to a presigned URL) and look inside.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}{download}", f.base))
        .send()
        .await
        .expect("download");
    let response = match family {
        Family::Embedded => response,
        Family::Moto => {
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let to = response.headers()["location"].to_str().expect("location");
            reqwest::get(to).await.expect("presigned GET")
        }
    };
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("bytes");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet-osquery.deb");
    std::fs::write(&path, &bytes).expect("write deb");
    let path = path.to_str().expect("path");
    let info = tool("dpkg-deb", &["--info", path]);
    assert!(info.contains("Version: 1.38.0"), "{info}");
    let contents = tool("dpkg-deb", &["--contents", path]);
    assert!(contents.contains(" etc/default/orbit\n"), "{contents}");
    let extracted = dir.path().join("deb");
    tool("dpkg-deb", &["-x", path, extracted.to_str().expect("dir")]);
    let env = std::fs::read_to_string(extracted.join("etc/default/orbit")).expect("env file");
    assert!(
        env.contains(&format!("ORBIT_ENROLL_SECRET={TEAM_SECRET}")),
        "the team's secret: {env}"
    );
    assert!(
        env.contains(&format!("ORBIT_FLEET_URL={}", f.base)),
        "{env}"
    );
    assert!(
        env.contains(&format!("ORBIT_UPDATE_URL={}", repository.server.url)),
        "{env}"
    );

    // The same arguments again reuse the built package; the activity names the maintainer.
    let again = browser
        .post(
            "/add-hosts/build",
            &[
                ("platform", "deb"),
                ("team", &team.to_string()),
                ("orbit_channel", "stable"),
                ("osqueryd_channel", "stable"),
                ("desktop_channel", "stable"),
            ],
        )
        .await;
    assert_eq!(again.location(), Some(location.as_str()));
    let (_, log) = f
        .admin("GET", "/api/v1/fleet/activities?type=created_package", None)
        .await;
    assert_eq!(
        log["activities"][0]["details"]["package_id"],
        json!(id),
        "{log}"
    );
    assert_eq!(
        log["activities"][0]["actor_email"],
        json!(maintainer.email),
        "{log}"
    );

    // No certificate configured: none offered, and none served.
    let page = browser
        .get(&format!("/add-hosts?platform=osquery&team={team}"))
        .await;
    assert!(!page.body.contains("/add-hosts/server.pem"));
    assert_eq!(
        browser.get("/add-hosts/server.pem").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn plain_osquery_files(family: Family) {
    let setup = Setup {
        settings: Some(Box::new(|settings, _| {
            settings.server_certificate = Some(CERTIFICATE.to_string());
        })),
        ..Setup::default()
    };
    let f = Flotilla::start_with(family, setup).await;
    let team = team_with_secret(&f, "Servers", TEAM_SECRET).await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));

    let page = browser
        .get(&format!("/add-hosts?platform=osquery&team={team}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .contains("aria-current=\"page\">Plain osquery</a>"));
    assert!(
        page.body.contains("<option value=\"global\""),
        "an admin may pick no team"
    );
    assert!(
        !page.body.contains("action=\"/add-hosts/build\""),
        "nothing to build"
    );
    let flags_link = format!("/add-hosts/osquery.flags?team={team}");
    let secret_link = format!("/add-hosts/secret.txt?team={team}");
    assert!(page.body.contains(&format!("href=\"{flags_link}\"")));
    assert!(page.body.contains(&format!("href=\"{secret_link}\"")));
    assert!(page.body.contains("href=\"/add-hosts/server.pem\""));
    // The base URL is plain HTTP here: the page says osquery will not talk to it.
    assert!(page
        .body
        .contains("osquery talks to its server over HTTPS only"));

    let flags = browser.get(&flags_link).await;
    assert_eq!(flags.status, StatusCode::OK);
    assert_eq!(
        flags.headers["content-disposition"],
        "attachment; filename=\"osquery.flags\""
    );
    let host = f.base.trim_start_matches("http://");
    for line in [
        format!("--tls_hostname={host}"),
        "--enroll_secret_path=secret.txt".to_string(),
        "--tls_server_certs=server.pem".to_string(),
        "--host_identifier=uuid".to_string(),
        "--enroll_tls_endpoint=/api/v1/osquery/enroll".to_string(),
        "--config_tls_endpoint=/api/v1/osquery/config".to_string(),
        "--distributed_tls_read_endpoint=/api/v1/osquery/distributed/read".to_string(),
        "--distributed_tls_write_endpoint=/api/v1/osquery/distributed/write".to_string(),
        "--logger_tls_endpoint=/api/v1/osquery/log".to_string(),
        "--carver_start_endpoint=/api/v1/osquery/carve/begin".to_string(),
        "--carver_continue_endpoint=/api/v1/osquery/carve/block".to_string(),
    ] {
        assert!(
            flags.body.lines().any(|l| l == line),
            "{line} in {}",
            flags.body
        );
    }
    // Each endpoint the flag file names is one this server answers for osquery.
    let routes: Vec<String> = flotilla_web::route_table()
        .into_iter()
        .map(|r| r.path.to_string())
        .collect();
    for line in flags.body.lines().filter(|l| l.contains("_endpoint=")) {
        let path = line.split('=').nth(1).unwrap_or_default();
        assert!(routes.iter().any(|r| r == path), "{path} is served");
    }

    let secret = browser.get(&secret_link).await;
    assert_eq!(secret.status, StatusCode::OK);
    assert_eq!(secret.body, TEAM_SECRET);
    assert_eq!(
        secret.headers["content-disposition"],
        "attachment; filename=\"secret.txt\""
    );
    let global = browser.get("/add-hosts/secret.txt?team=global").await;
    assert_eq!(global.body, f.enroll_secret, "no team: the global secret");

    let certificate = browser.get("/add-hosts/server.pem").await;
    assert_eq!(certificate.status, StatusCode::OK);
    assert_eq!(certificate.body, CERTIFICATE);

    // The secret file enrolls a host into the team.
    let mut client = flotilla_tests::osquery_client::OsqueryClient::new(
        &f.base,
        &secret.body,
        "0A500000-0000-0000-0000-000000000001",
    );
    assert_eq!(client.enroll().await.status, StatusCode::OK);
    let (_, hosts) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    let enrolled: Vec<&Value> = hosts["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter(|h| h["uuid"] == "0A500000-0000-0000-0000-000000000001")
        .collect();
    assert_eq!(enrolled.len(), 1, "{hosts}");
    assert_eq!(enrolled[0]["team_id"], json!(team));
}

async fn what_a_role_may_not_do_is_refused(family: Family) {
    let f = Flotilla::start_with(
        family,
        Setup {
            settings: Some(Box::new(|settings, _| {
                settings.packager.update_root = Some(r#"{"signed":{"_type":"root"}}"#.into());
            })),
            ..Setup::default()
        },
    )
    .await;
    let mine = team_with_secret(&f, "Mine", "mine-secret").await;
    let theirs = team_with_secret(&f, "Theirs", "theirs-secret").await;
    // A maintainer of one team who only observes another.
    let user = f
        .user(None, &[(mine, "maintainer"), (theirs, "observer")])
        .await;
    let browser = Browser::new(&f, Some(user.token.clone()));

    let page = browser.get("/add-hosts?platform=deb").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .contains(&format!("<option value=\"{mine}\" selected>Mine</option>")));
    assert!(
        !page.body.contains("Theirs"),
        "a team whose secrets they may not read"
    );
    assert!(!page.body.contains("theirs-secret"));

    for path in [
        format!("/add-hosts?platform=deb&team={theirs}"),
        format!("/add-hosts/secret.txt?team={theirs}"),
        format!("/add-hosts/osquery.flags?team={theirs}"),
        "/add-hosts/secret.txt?team=global".to_string(),
    ] {
        let refused = browser.get(&path).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(!refused.body.contains("theirs-secret"), "{path}");
        assert!(!refused.body.contains(&f.enroll_secret), "{path}");
    }
    let forged = browser
        .post(
            "/add-hosts/build",
            &[("platform", "deb"), ("team", &theirs.to_string())],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // A team observer sees no Add hosts at all (no secret to read, nothing to build), and a
    // forged build is refused and queues nothing.
    let observer = f.user(None, &[(mine, "observer")]).await;
    let browser = Browser::new(&f, Some(observer.token.clone()));
    let dashboard = browser.get("/").await;
    assert!(!dashboard.body.contains("href=\"/add-hosts\""));
    assert_eq!(
        browser.get("/add-hosts").await.status,
        StatusCode::FORBIDDEN
    );
    let forged = browser
        .post(
            "/add-hosts/build",
            &[("platform", "deb"), ("team", &mine.to_string())],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(f.run_jobs().await, 0, "nothing was queued");
    let (_, log) = f
        .admin("GET", "/api/v1/fleet/activities?type=created_package", None)
        .await;
    assert_eq!(log["activities"], json!([]), "{log}");
}
