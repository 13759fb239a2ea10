//! The Carves pages driven like a user on both adapter families: carves made by the osquery
//! test client, listed with their progress to those who may read their host's team's carves,
//! one carve's page, and its download with the session cookie (the API's route).

use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::osquery_client::OsqueryClient;
use flotilla_tests::page_client::Browser;
use rand::{RngCore, SeedableRng};
use reqwest::StatusCode;
use serde_json::json;

flotilla_tests::both!(carves_are_listed_and_downloaded_by_team);

const BLOCK: usize = 2_000_000;

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

async fn team_secret(f: &Flotilla, name: &str) -> (u64, String) {
    let (status, team) = f
        .admin("POST", "/api/v1/fleet/teams", Some(json!({"name": name})))
        .await;
    assert_eq!(status, StatusCode::OK, "{team}");
    let id = team["team"]["id"].as_u64().expect("team id");
    let secret = format!("{name}-carve-secret");
    let (status, answer) = f
        .admin(
            "PATCH",
            &format!("/api/v1/fleet/teams/{id}/secrets"),
            Some(json!({"secrets": [{"secret": secret}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    (id, secret)
}

/// The carve ids by request id, through the API.
async fn carve_id(f: &Flotilla, request_id: &str) -> u64 {
    let (status, body) = f.admin("GET", "/api/v1/fleet/carves", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["carves"]
        .as_array()
        .expect("carves")
        .iter()
        .find(|c| c["request_id"] == request_id)
        .and_then(|c| c["id"].as_u64())
        .unwrap_or_else(|| panic!("carve {request_id} listed: {body}"))
}

async fn carves_are_listed_and_downloaded_by_team(family: Family) {
    let f = Flotilla::start(family).await;
    let (team, secret) = team_secret(&f, "Blue").await;
    let mut blue = OsqueryClient::new(&f.base, &secret, "CA5E9A6E-0000-0000-0000-000000000001");
    assert_eq!(blue.enroll().await.status, StatusCode::OK);
    let mut other = f.client("CA5E9A6E-0000-0000-0000-000000000002");
    assert_eq!(other.enroll().await.status, StatusCode::OK);

    // A finished carve of two blocks on the team's host, one of another host, and one still
    // arriving (1 of 3 blocks).
    let data = payload(BLOCK + 1234, 7);
    blue.carve(&data, BLOCK, "blue-carve").await;
    other.carve(&payload(1000, 8), BLOCK, "other-carve").await;
    let begun = blue.carve_begin(3 * 1024, 1024, "blue-partial").await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.body);
    let session = begun.body["session_id"]
        .as_str()
        .expect("session")
        .to_string();
    let first = blue
        .carve_block(&session, "blue-partial", 0, &payload(1024, 9))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    f.run_jobs().await;
    let done = carve_id(&f, "blue-carve").await;
    let foreign = carve_id(&f, "other-carve").await;
    let partial = carve_id(&f, "blue-partial").await;

    let maintainer = f.user(None, &[(team, "maintainer")]).await;
    let browser = Browser::new(&f, Some(maintainer.token.clone()));
    let list = browser.get("/carves").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&format!("href=\"/carves/{done}\"")));
    assert!(list.body.contains(&format!("href=\"/carves/{partial}\"")));
    assert!(
        !list.body.contains(&format!("href=\"/carves/{foreign}\"")),
        "another team's host's carve is not listed"
    );
    assert!(!list.body.contains("other-carve"));
    assert!(list.body.contains("blue-carve"));
    assert!(list.body.contains("2 of 2 blocks"), "{}", list.body);
    assert!(list.body.contains("1 of 3 blocks"));
    assert!(list.body.contains("Complete"));
    assert!(list.body.contains("Receiving blocks"));
    assert!(list.body.contains("<th scope=\"col\">Progress</th>"));

    // The finished carve's page and its download, with the session cookie only.
    let page = browser.get(&format!("/carves/{done}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("blue-carve"));
    let download = format!("/api/v1/fleet/carves/{done}/download");
    assert!(
        page.body.contains(&format!("href=\"{download}\"")),
        "{}",
        page.body
    );
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}{download}", f.base))
        .header(
            "cookie",
            format!("__Host-flotilla_session={}", maintainer.token),
        )
        .send()
        .await
        .expect("download");
    let bytes = match family {
        Family::Embedded => {
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.expect("bytes").to_vec()
        }
        Family::Moto => {
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let to = response.headers()["location"]
                .to_str()
                .expect("location")
                .to_string();
            let object = reqwest::get(&to).await.expect("presigned GET");
            assert_eq!(object.status(), StatusCode::OK);
            object.bytes().await.expect("bytes").to_vec()
        }
    };
    assert!(bytes == data, "the download is the carved file");

    // The unfinished one has no download yet.
    let page = browser.get(&format!("/carves/{partial}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("/download\""));
    assert!(page
        .body
        .contains("can be downloaded once every block has arrived"));

    // Another team's host's carve: refused, as its download is.
    let refused = browser.get(&format!("/carves/{foreign}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.body.contains("other-carve"));
    assert_eq!(
        browser
            .get(&format!("/api/v1/fleet/carves/{foreign}/download"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        browser.get("/carves/999999").await.status,
        StatusCode::NOT_FOUND
    );

    // A global maintainer sees every carve; a team observer none (no carve reading).
    let global = f.user(Some("maintainer"), &[]).await;
    let list = Browser::new(&f, Some(global.token.clone()))
        .get("/carves")
        .await;
    assert!(list.body.contains(&format!("href=\"/carves/{foreign}\"")));
    let observer = f.user(None, &[(team, "observer")]).await;
    let browser = Browser::new(&f, Some(observer.token.clone()));
    assert_eq!(browser.get("/carves").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get(&format!("/carves/{done}")).await.status,
        StatusCode::FORBIDDEN
    );
}
