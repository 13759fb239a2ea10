//! File carving end to end against both adapter families (S3, DynamoDB and SQS in moto; the
//! embedded stores locally): osquery's carve protocol with osquery's and orbit's block sizes,
//! Fleet's checks on bad blocks, assembly through the job queue, the admin API and download,
//! live-query carves and expiry.

use base64::Engine;
use flotilla::domain::carve_assembly;
use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::osquery_client::OsqueryClient;
use rand::{RngCore, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

flotilla_tests::both!(
    carves_with_osquery_and_orbit_block_sizes,
    bad_blocks_are_refused_and_recorded,
    live_query_asks_for_a_carve,
    carves_expire,
    redelivered_jobs_do_no_harm,
);

const OSQUERY_BLOCK: usize = 8192;
const ORBIT_BLOCK: usize = 2_000_000;

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

fn sha(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn enrolled(f: &Flotilla, uuid: &str) -> OsqueryClient {
    let mut client = f.client(uuid);
    let answer = client.enroll().await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    client
}

async fn carve_json(f: &Flotilla, id: u64) -> Value {
    let (status, body) = f
        .admin("GET", &format!("/api/v1/fleet/carves/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["carve"].clone()
}

/// The id of the newest carve (carves are listed oldest first).
async fn newest_carve_id(f: &Flotilla) -> u64 {
    let (status, body) = f.admin("GET", "/api/v1/fleet/carves", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["carves"]
        .as_array()
        .and_then(|carves| carves.last())
        .and_then(|carve| carve["id"].as_u64())
        .expect("a carve is listed")
}

/// The whole file through the download endpoint: a 303 to a presigned S3 URL on AWS (fetched
/// without the admin token, as a browser would), the bytes themselves locally.
async fn download(f: &Flotilla, id: u64) -> (StatusCode, Vec<u8>) {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = no_redirects
        .get(format!("{}/api/v1/fleet/carves/{id}/download", f.base))
        .bearer_auth(&f.admin_token)
        .send()
        .await
        .expect("download");
    let status = response.status();
    if status == StatusCode::SEE_OTHER {
        assert_eq!(f.family, Family::Moto, "only S3 hands out URLs");
        let location = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["url"], json!(location));
        let object = reqwest::get(&location).await.expect("presigned GET");
        return (
            object.status(),
            object.bytes().await.expect("bytes").to_vec(),
        );
    }
    if status == StatusCode::OK {
        assert_eq!(f.family, Family::Embedded, "S3 downloads are redirected");
        assert_eq!(
            response.headers()["content-type"],
            "application/octet-stream"
        );
    }
    (status, response.bytes().await.expect("bytes").to_vec())
}

async fn block_of(f: &Flotilla, id: u64, block: u64) -> (StatusCode, Vec<u8>) {
    let (status, body) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/carves/{id}/block/{block}"),
            None,
        )
        .await;
    let data = body["data"]
        .as_str()
        .map(|data| {
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("base64")
        })
        .unwrap_or_default();
    (status, data)
}

async fn blobs_under(f: &Flotilla, prefix: &str) -> Vec<String> {
    f.jobs.ports.blobs.list(prefix).await.expect("list blobs")
}

async fn carves_with_osquery_and_orbit_block_sizes(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = enrolled(&f, "CA5E0000-0000-0000-0000-000000000001").await;
    // osquery's default 8 KiB blocks: 5.5 MiB is 704 blocks, two multipart parts (640 + 64).
    // orbit's 2,000,000-byte blocks: 6.5 MB is 4 blocks, two parts (3 + 1).
    // And a carve of one short block, a single part under S3's 5 MiB minimum.
    let cases = [
        (OSQUERY_BLOCK, 5 * 1024 * 1024 + 512 * 1024, 2u64),
        (ORBIT_BLOCK, 6_500_000, 2),
        (ORBIT_BLOCK, 1234, 1),
    ];
    for (seed, (block_size, size, parts)) in cases.into_iter().enumerate() {
        let data = payload(size, seed as u64);
        host.v1_paths = seed % 2 == 1; // both path forms
        host.carve(&data, block_size, "").await;
        let id = newest_carve_id(&f).await;
        let carve = carve_json(&f, id).await;
        let blocks = size.div_ceil(block_size) as i64;
        assert_eq!(carve["block_count"], json!(blocks));
        assert_eq!(carve["max_block"], json!(blocks - 1));
        assert_eq!(carve["carve_size"], json!(size));
        assert_eq!(carve["host_id"], json!(1));
        assert_eq!(carve["error"], Value::Null);
        assert_eq!(carve["expired"], json!(false));
        assert!(
            carve["name"]
                .as_str()
                .is_some_and(|name| name.starts_with(&host.hostname)),
            "{carve}"
        );

        // Not downloadable before assembly.
        let (status, _) = download(&f, id).await;
        assert_eq!(status, StatusCode::CONFLICT);
        // A block can be read before assembly (from its own blob)...
        let (status, first) = block_of(&f, id, 0).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(first, data[..block_size.min(size)]);

        assert_eq!(f.run_jobs().await as u64, parts, "one job per part");
        let carve = carve_json(&f, id).await;
        assert!(carve["completed_at"].is_string(), "{carve}");
        let (status, whole) = download(&f, id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(whole.len(), size);
        assert_eq!(
            sha(&whole),
            sha(&data),
            "the carve comes back byte for byte"
        );

        // ...and after it, from the assembled file; the block blobs are gone.
        assert!(blobs_under(&f, &format!("carves/{id}/blocks/"))
            .await
            .is_empty());
        for block in [0, (blocks - 1) as u64] {
            let (status, bytes) = block_of(&f, id, block).await;
            assert_eq!(status, StatusCode::OK);
            let start = block as usize * block_size;
            assert_eq!(bytes, data[start..(start + block_size).min(size)]);
        }
        let (status, _) = block_of(&f, id, blocks as u64).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, body) = f.admin("GET", "/api/v1/fleet/carves", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["carves"].as_array().map(Vec::len), Some(3));
    let (status, _) = f
        .admin_as(Some("wrong"), "GET", "/api/v1/fleet/carves", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn bad_blocks_are_refused_and_recorded(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = enrolled(&f, "CA5E0000-0000-0000-0000-000000000002").await;

    // Fleet's checks at begin.
    for (count, block_size, size, why) in [
        (1, 8192, 0, "empty carve"),
        (3, 8192, 8192 * 2, "one block too many"),
        (2, 8192, 8192 * 2 + 1, "one block too few"),
        (
            2,
            8 * 1024 * 1024,
            9 * 1024 * 1024,
            "blocks larger than a request",
        ),
        (
            1100,
            8 * 1024 * 1024,
            9 * 1024 * 1024 * 1024_u64,
            "over 8 GiB",
        ),
    ] {
        let answer = host
            .call(
                "/carve/begin",
                json!({"block_count": count, "block_size": block_size, "carve_size": size,
                       "carve_id": "c", "request_id": "r"}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{why}: {}",
            answer.body
        );
        assert!(answer.body["error"].is_string());
    }
    let (status, body) = f
        .post_raw(
            "/api/osquery/carve/begin",
            &[("content-type", "application/json")],
            br#"{"block_count": 1, "block_size": 8192, "carve_size": 10, "node_key": "nope"}"#
                .to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["node_invalid"], json!(true));

    let data = payload(8192 * 2 + 100, 7);
    let blocks: Vec<&[u8]> = data.chunks(8192).collect();
    let request_id = "req-1";
    let begun = host.carve_begin(data.len(), 8192, request_id).await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.body);
    let session = begun.body["session_id"]
        .as_str()
        .expect("session")
        .to_string();
    let id = newest_carve_id(&f).await;

    let refused = |answer: &flotilla_tests::osquery_client::Answer, what: &str| {
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            answer.body
        );
        assert!(answer.body["error"].is_string(), "{what}");
    };
    let out_of_order = host.carve_block(&session, request_id, 1, blocks[1]).await;
    refused(&out_of_order, "block 1 before block 0");
    let error = carve_json(&f, id).await["error"].clone();
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.contains("expected block 0")),
        "recorded on the carve: {error}"
    );

    let first = host.carve_block(&session, request_id, 0, blocks[0]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    // A resend of the block just stored (its answer was lost): accepted, stored once.
    let resent = host.carve_block(&session, request_id, 0, blocks[0]).await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.body);
    // The same block id with other bytes is a duplicate, not a resend.
    let duplicate = host.carve_block(&session, request_id, 0, blocks[1]).await;
    refused(&duplicate, "duplicate block 0 with other bytes");
    let oversized = host
        .carve_block(&session, request_id, 1, &payload(8193, 8))
        .await;
    refused(&oversized, "block over block_size");
    let error = carve_json(&f, id).await["error"].clone();
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.contains("more than the declared block_size")),
        "{error}"
    );
    let short = host
        .carve_block(&session, request_id, 1, &blocks[1][..100])
        .await;
    refused(&short, "a short block that is not the last");
    let past_end = host.carve_block(&session, request_id, 3, blocks[2]).await;
    refused(&past_end, "block id past the end");
    let negative = host.carve_block(&session, request_id, -1, blocks[0]).await;
    refused(&negative, "negative block id");
    let (status, body) = f
        .post_raw(
            "/api/osquery/carve/block",
            &[("content-type", "application/json")],
            serde_json::to_vec(&json!({"block_id": 1, "session_id": session,
                "request_id": request_id, "data": "not base64!"}))
            .expect("json"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = f
        .post_raw(
            "/api/osquery/carve/block",
            &[("content-type", "application/json")],
            b"{\"block_id\": \"one\"}".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Unknown sessions, and a request id that does not match the session: 404.
    for (session_id, request) in [
        (session.as_str(), "another-request"),
        ("999-0123456789abcdef0123456789abcdef", request_id),
        ("garbage", request_id),
        (
            &format!("{id}-0123456789abcdef0123456789abcdef"),
            request_id,
        ),
    ] {
        let answer = host.carve_block(session_id, request, 1, blocks[1]).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{session_id}: {}",
            answer.body
        );
    }

    let carve = carve_json(&f, id).await;
    assert_eq!(carve["max_block"], json!(0), "nothing refused was stored");
    // The right blocks still complete the carve, intact.
    for (block_id, block) in blocks.iter().enumerate().skip(1) {
        let answer = host
            .carve_block(&session, request_id, block_id as i64, block)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    assert_eq!(f.run_jobs().await, 1);
    let (status, whole) = download(&f, id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha(&whole), sha(&data));
    // A block after the last, or for a finished carve: refused.
    let late = host.carve_block(&session, request_id, 3, blocks[2]).await;
    refused(&late, "block after the last");
}

async fn live_query_asks_for_a_carve(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = enrolled(&f, "CA5E0000-0000-0000-0000-000000000003").await;
    let sql = "SELECT * FROM carves WHERE carve=1 AND path='/etc/hosts'";
    let (status, body) = f
        .admin(
            "POST",
            "/api/v1/fleet/queries/run",
            Some(json!({"query": sql, "selected": {"hosts": [1]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let campaign = body["campaign"]["id"].as_u64().expect("campaign id");
    f.advance_secs(3); // past the live snapshot's refresh
    let queries = host.read().await;
    let name = format!("fleet_distributed_query_{campaign}");
    assert_eq!(queries.get(&name), Some(&json!(sql)), "{queries:?}");

    // osquery runs the carve with the distributed query's name as its request id.
    let data = payload(3 * ORBIT_BLOCK + 17, 3);
    host.carve(&data, ORBIT_BLOCK, &name).await;
    let answer = host
        .write(
            json!({ &name: [{"carve": "1", "path": "/etc/hosts", "status": "STARTING",
                "carve_guid": "0d7c4f1e", "size": "-1", "sha256": "", "time": "1700000000"}] }),
            json!({ &name: 0 }),
            json!({}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let id = newest_carve_id(&f).await;
    let carve = carve_json(&f, id).await;
    assert_eq!(carve["request_id"], json!(name));
    assert_eq!(carve["campaign_id"], json!(campaign));
    assert!(carve["name"].as_str().is_some_and(|n| n.ends_with(&name)));
    let (status, results) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/campaigns/{campaign}/results"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        results["results"][0]["rows"][0]["status"],
        json!("STARTING")
    );
    f.run_jobs().await;
    let (status, whole) = download(&f, id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha(&whole), sha(&data));
}

async fn carves_expire(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = enrolled(&f, "CA5E0000-0000-0000-0000-000000000004").await;
    let data = payload(ORBIT_BLOCK + 5, 4);
    host.carve(&data, ORBIT_BLOCK, "").await;
    let id = newest_carve_id(&f).await;
    f.run_jobs().await;
    assert_eq!(download(&f, id).await.0, StatusCode::OK);

    f.advance_secs(30 * 24 * 3600 - 60);
    assert_eq!(carve_json(&f, id).await["expired"], json!(false));
    f.advance_secs(60);
    assert_eq!(carve_json(&f, id).await["expired"], json!(true));
    let (_, listed) = f.admin("GET", "/api/v1/fleet/carves", None).await;
    assert_eq!(
        listed["carves"],
        json!([]),
        "Fleet lists only unexpired carves"
    );
    let (_, listed) = f
        .admin("GET", "/api/v1/fleet/carves?expired=true", None)
        .await;
    assert_eq!(listed["carves"][0]["id"], json!(id));
    assert_eq!(listed["carves"][0]["expired"], json!(true));
    assert_eq!(download(&f, id).await.0, StatusCode::GONE);
    assert_eq!(block_of(&f, id, 0).await.0, StatusCode::GONE);

    if family == Family::Embedded {
        // On AWS the bucket's lifecycle rule deletes carves/; locally the worker's sweep does.
        assert!(!blobs_under(&f, &format!("carves/{id}/")).await.is_empty());
        assert_eq!(
            carve_assembly::sweep_expired(&f.jobs).await.expect("sweep"),
            1
        );
        assert!(blobs_under(&f, &format!("carves/{id}/")).await.is_empty());
        assert_eq!(
            carve_assembly::sweep_expired(&f.jobs).await.expect("sweep"),
            0
        );
    }
    // The record itself goes 30 days after the data.
    f.advance_secs(30 * 24 * 3600);
    let (status, _) = f
        .admin("GET", &format!("/api/v1/fleet/carves/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn redelivered_jobs_do_no_harm(family: Family) {
    let f = Flotilla::start(family).await;
    let mut host = enrolled(&f, "CA5E0000-0000-0000-0000-000000000005").await;
    // Four orbit blocks: part 0 = blocks 0-2, part 1 = block 3.
    let data = payload(3 * ORBIT_BLOCK + 999, 5);
    host.carve(&data, ORBIT_BLOCK, "").await;
    let id = newest_carve_id(&f).await;
    let queue = &f.jobs.ports.queue;
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let received = queue
            .receive(10, std::time::Duration::from_secs(60))
            .await
            .expect("receive");
        assert!(!received.is_empty(), "two part jobs were queued");
        messages.extend(received);
    }
    messages.sort_by(|a, b| a.body.cmp(&b.body));
    assert!(
        messages[0].body.contains("\"part\":0"),
        "{}",
        messages[0].body
    );
    for message in [
        &messages[0],
        &messages[0],
        &messages[1],
        &messages[1],
        &messages[0],
    ] {
        flotilla::jobs::handle(&f.jobs, &message.body)
            .await
            .expect("a delivered job succeeds, however often");
    }
    let (status, whole) = download(&f, id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha(&whole), sha(&data));
    assert!(flotilla::jobs::handle(&f.jobs, "{\"kind\":\"unknown\"}")
        .await
        .is_err());
}
