//! Live-query campaigns at scale: results and errors by cursor, per-host status and counts,
//! stop, get and list, export through the blob store, Fleet's per-host query and refetch.
//! Both adapter families.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

use flotilla_tests::harness::{Family, Flotilla, Setup};
use flotilla_tests::osquery_client::OsqueryClient;

flotilla_tests::both!(
    results_by_cursor_counts_and_errors,
    stop_get_and_list,
    team_users_see_only_their_campaigns,
    host_query_answers_within_the_wait_or_times_out,
    refetch_hands_detail_queries_once,
    export_matches_the_paged_results,
);

async fn host_id(f: &Flotilla, uuid: &str) -> u64 {
    let (_, hosts) = f
        .admin_as(
            Some(&f.break_glass),
            "GET",
            "/api/v1/fleet/hosts?per_page=500",
            None,
        )
        .await;
    hosts["hosts"]
        .as_array()
        .and_then(|hosts| {
            hosts.iter().find(|h| {
                h["uuid"]
                    .as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(uuid))
            })
        })
        .and_then(|h| h["id"].as_u64())
        .expect("enrolled host listed")
}

async fn enrolled(f: &Flotilla, secret: &str, uuid: &str) -> (OsqueryClient, u64) {
    let mut host = OsqueryClient::new(&f.base, secret, uuid);
    host.enroll().await;
    let id = host_id(f, uuid).await;
    (host, id)
}

async fn ok(f: &Flotilla, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = f.admin(method, path, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

async fn run(f: &Flotilla, sql: &str, selected: Value) -> u64 {
    let run = ok(
        f,
        "POST",
        "/api/v1/fleet/queries/run",
        Some(json!({"query": sql, "selected": selected})),
    )
    .await;
    run["campaign"]["id"].as_u64().expect("campaign id")
}

/// Every result by following `next_cursor`, `per_page` at a time.
async fn all_pages(f: &Flotilla, campaign: u64, per_page: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let path = match &cursor {
            Some(c) => {
                format!("/api/v1/fleet/campaigns/{campaign}/results?per_page={per_page}&after={c}")
            }
            None => format!("/api/v1/fleet/campaigns/{campaign}/results?per_page={per_page}"),
        };
        let page = ok(f, "GET", &path, None).await;
        let results = page["results"].as_array().expect("results");
        assert!(results.len() <= per_page, "{page}");
        out.extend(results.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                return out;
            }
        }
    }
    panic!("paging did not end");
}

async fn results_by_cursor_counts_and_errors(family: Family) {
    let f = Flotilla::start(family).await;
    let mut hosts = Vec::new();
    for i in 0..7 {
        hosts.push(
            enrolled(
                &f,
                &f.enroll_secret.clone(),
                &format!("c0000000-0000-0000-0000-{i:012}"),
            )
            .await,
        );
    }
    let campaign = run(&f, "SELECT name FROM processes", json!({"all": true})).await;
    let name = format!("fleet_distributed_query_{campaign}");
    f.advance_secs(3);
    // Six hosts are handed it; the seventh never checks in.
    for (host, _) in hosts.iter_mut().take(6) {
        assert!(host.read().await.contains_key(&name));
    }
    // Four answer with rows, one with a failure, one not at all.
    for (i, (host, _)) in hosts.iter_mut().take(4).enumerate() {
        let rows: Vec<Value> = (0..=i)
            .map(|r| json!({"name": format!("p{i}-{r}")}))
            .collect();
        let wrote = host
            .write(json!({ &name: rows }), json!({ &name: 0 }), json!({}))
            .await;
        assert_eq!(wrote.status, StatusCode::OK, "{}", wrote.body);
    }
    let failed = hosts[4]
        .0
        .write(
            json!({ &name: "" }),
            json!({ &name: 1 }),
            json!({ &name: "no such table: processes" }),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK);
    // osquery resends a write it got no answer to: nothing is counted twice or overwritten.
    for _ in 0..2 {
        let again = hosts[0]
            .0
            .write(
                json!({ &name: [{"name": "changed"}] }),
                json!({ &name: 0 }),
                json!({}),
            )
            .await;
        assert_eq!(again.status, StatusCode::OK);
        let again = hosts[4]
            .0
            .write(
                json!({ &name: "" }),
                json!({ &name: 1 }),
                json!({ &name: "again" }),
            )
            .await;
        assert_eq!(again.status, StatusCode::OK);
    }

    let got = ok(
        &f,
        "GET",
        &format!("/api/v1/fleet/campaigns/{campaign}"),
        None,
    )
    .await;
    let c = &got["campaign"];
    assert_eq!(c["status"], "running", "{got}");
    assert_eq!(c["targeted"], 7);
    assert_eq!(c["responded"], 5);
    assert_eq!(
        c["counts"],
        json!({"asked": 6, "answered": 4, "errors": 1, "rows": 1 + 2 + 3 + 4, "pending": 1, "not_seen": 1}),
        "{got}"
    );

    // Pages of two: every result once, in host order.
    let paged = all_pages(&f, campaign, 2).await;
    let ids: Vec<u64> = paged
        .iter()
        .map(|r| r["host_id"].as_u64().expect("id"))
        .collect();
    let expected: Vec<u64> = hosts.iter().take(5).map(|(_, id)| *id).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        paged[0]["rows"],
        json!([{"name": "p0-0"}]),
        "the first answer stands"
    );
    assert_eq!(paged[4]["error"], "no such table: processes");
    assert_eq!(paged, all_pages(&f, campaign, 1000).await);
    // The whole answer without parameters, as before, with a null cursor.
    let whole = ok(
        &f,
        "GET",
        &format!("/api/v1/fleet/campaigns/{campaign}/results"),
        None,
    )
    .await;
    assert_eq!(whole["results"].as_array().map(Vec::len), Some(5));
    assert!(whole["next_cursor"].is_null());

    // The errors list, both ways.
    let errors = ok(
        &f,
        "GET",
        &format!("/api/v1/fleet/campaigns/{campaign}/errors"),
        None,
    )
    .await;
    assert_eq!(
        errors["errors"].as_array().map(|e| e
            .iter()
            .map(|e| (e["host_id"].clone(), e["error"].clone()))
            .collect::<Vec<_>>()),
        Some(vec![(json!(hosts[4].1), json!("no such table: processes"))]),
        "{errors}"
    );
    let filtered = ok(
        &f,
        "GET",
        &format!("/api/v1/fleet/campaigns/{campaign}/results?status=error"),
        None,
    )
    .await;
    assert_eq!(filtered["errors"], errors["errors"]);

    // Hostile paging input: JSON 400s.
    for bad in [
        "after=not-a-cursor",
        "after=%00%01",
        "after=cjp4", // base64url of "r:x"
        &format!("after={}", "A".repeat(500)),
        "per_page=0",
        "per_page=-1",
        "per_page=abc",
        "status=nope",
    ] {
        let (status, body) = f
            .admin(
                "GET",
                &format!("/api/v1/fleet/campaigns/{campaign}/results?{bad}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    // A cursor of another listing is refused too.
    let list = ok(&f, "GET", "/api/v1/fleet/campaigns?per_page=1", None).await;
    let _ = list;
    let errors_cursor = {
        // Build one by paging errors one at a time over two failures.
        let failed2 = hosts[5]
            .0
            .write(json!({ &name: "" }), json!({ &name: 2 }), json!({}))
            .await;
        assert_eq!(failed2.status, StatusCode::OK);
        let page = ok(
            &f,
            "GET",
            &format!("/api/v1/fleet/campaigns/{campaign}/errors?per_page=1"),
            None,
        )
        .await;
        assert_eq!(page["errors"].as_array().map(Vec::len), Some(1));
        let next = page["next_cursor"]
            .as_str()
            .expect("more errors")
            .to_string();
        let rest = ok(
            &f,
            "GET",
            &format!("/api/v1/fleet/campaigns/{campaign}/errors?per_page=1&after={next}"),
            None,
        )
        .await;
        assert_eq!(rest["errors"][0]["error"], "query failed with status 2");
        next
    };
    let (status, body) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/campaigns/{campaign}/results?after={errors_cursor}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = f.admin("GET", "/api/v1/fleet/campaigns/999999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn stop_get_and_list(family: Family) {
    let f = Flotilla::start(family).await;
    let (mut early, early_id) = enrolled(
        &f,
        &f.enroll_secret.clone(),
        "d0000000-0000-0000-0000-000000000001",
    )
    .await;
    let (mut late, _) = enrolled(
        &f,
        &f.enroll_secret.clone(),
        "d0000000-0000-0000-0000-000000000002",
    )
    .await;
    let first = run(&f, "SELECT 1", json!({"all": true})).await;
    let second = run(&f, "SELECT 2", json!({"hosts": [early_id]})).await;
    let name = format!("fleet_distributed_query_{second}");
    f.advance_secs(3);
    assert!(early.read().await.contains_key(&name));

    let stopped = ok(
        &f,
        "POST",
        &format!("/api/v1/fleet/campaigns/{first}/stop"),
        None,
    )
    .await;
    assert_eq!(stopped["campaign"]["status"], "stopped", "{stopped}");
    assert!(stopped["campaign"]["stopped_at"].is_string());
    // Stopping again is fine.
    ok(
        &f,
        "POST",
        &format!("/api/v1/fleet/campaigns/{first}/stop"),
        None,
    )
    .await;
    f.advance_secs(3);
    let read = late.read().await;
    assert!(
        !read.contains_key(&format!("fleet_distributed_query_{first}")),
        "a stopped campaign is not handed out: {read:?}"
    );
    // The early host was handed the second before; it still answers, and it is kept.
    let wrote = early
        .write(
            json!({ &name: [{"x": "1"}] }),
            json!({ &name: 0 }),
            json!({}),
        )
        .await;
    assert_eq!(wrote.status, StatusCode::OK);
    ok(
        &f,
        "POST",
        &format!("/api/v1/fleet/campaigns/{second}/stop"),
        None,
    )
    .await;
    let results = ok(
        &f,
        "GET",
        &format!("/api/v1/fleet/campaigns/{second}/results"),
        None,
    )
    .await;
    assert_eq!(results["results"][0]["rows"], json!([{"x": "1"}]));
    assert_eq!(results["campaign"]["status"], "stopped");

    // Newest first, by cursor.
    let third = run(&f, "SELECT 3", json!({"all": true})).await;
    let page = ok(&f, "GET", "/api/v1/fleet/campaigns?per_page=2", None).await;
    let ids: Vec<u64> = page["campaigns"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_u64())
        .collect();
    assert_eq!(ids, vec![third, second], "{page}");
    assert_eq!(page["campaigns"][0]["status"], "running");
    assert_eq!(page["campaigns"][1]["status"], "stopped");
    let next = page["next_cursor"].as_str().expect("a next page");
    let rest = ok(
        &f,
        "GET",
        &format!("/api/v1/fleet/campaigns?per_page=2&after={next}"),
        None,
    )
    .await;
    let ids: Vec<u64> = rest["campaigns"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_u64())
        .collect();
    assert_eq!(ids, vec![first], "{rest}");
    assert!(rest["next_cursor"].is_null());
    let (status, body) = f
        .admin("GET", "/api/v1/fleet/campaigns?after=garbage", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // An hour later it has expired.
    f.advance_secs(3700);
    let got = ok(&f, "GET", &format!("/api/v1/fleet/campaigns/{third}"), None).await;
    assert_eq!(got["campaign"]["status"], "expired");
}

async fn team_users_see_only_their_campaigns(family: Family) {
    let f = Flotilla::start(family).await;
    let team = |name: &'static str| {
        let f = &f;
        async move {
            let created = ok(
                f,
                "POST",
                "/api/v1/fleet/teams",
                Some(json!({"name": name})),
            )
            .await;
            let id = created["team"]["id"].as_u64().expect("team id");
            let secrets = ok(f, "GET", &format!("/api/v1/fleet/teams/{id}/secrets"), None).await;
            (
                id,
                secrets["secrets"][0]["secret"]
                    .as_str()
                    .expect("secret")
                    .to_string(),
            )
        }
    };
    let (team_a, secret_a) = team("Team A").await;
    let (_team_b, secret_b) = team("Team B").await;
    let (mut host_a, id_a) = enrolled(&f, &secret_a, "e0000000-0000-0000-0000-00000000000a").await;
    let (mut host_b, id_b) = enrolled(&f, &secret_b, "e0000000-0000-0000-0000-00000000000b").await;
    let on_a = run(&f, "SELECT 'a'", json!({"teams": [team_a]})).await;
    let on_b = run(&f, "SELECT 'b'", json!({"hosts": [id_b]})).await;
    let on_all = run(&f, "SELECT 'all'", json!({"all": true})).await;
    f.advance_secs(3);
    for (host, campaign) in [(&mut host_a, on_all), (&mut host_b, on_all)] {
        let name = format!("fleet_distributed_query_{campaign}");
        assert!(host.read().await.contains_key(&name));
        let wrote = host
            .write(
                json!({ &name: [{"v": "1"}] }),
                json!({ &name: 0 }),
                json!({}),
            )
            .await;
        assert_eq!(wrote.status, StatusCode::OK);
    }
    let user = f.user(None, &[(team_a, "observer_plus")]).await;
    let as_user = |method: &'static str, path: String| {
        let f = &f;
        let token = user.token.clone();
        async move { f.admin_as(Some(&token), method, &path, None).await }
    };
    let (status, list) = as_user("GET", "/api/v1/fleet/campaigns".into()).await;
    assert_eq!(status, StatusCode::OK);
    let ids: BTreeSet<u64> = list["campaigns"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_u64())
        .collect();
    assert_eq!(ids, BTreeSet::from([on_a, on_all]), "{list}");
    // Another team's campaign: the same 404 as a missing one, on every campaign route.
    for path in [
        format!("/api/v1/fleet/campaigns/{on_b}"),
        format!("/api/v1/fleet/campaigns/{on_b}/results"),
        format!("/api/v1/fleet/campaigns/{on_b}/errors"),
    ] {
        let (status, body) = as_user("GET", path.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = as_user("POST", format!("/api/v1/fleet/campaigns/{on_b}/stop")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A campaign on all hosts: its own team's results only, and it may not stop it.
    let (_, results) = as_user("GET", format!("/api/v1/fleet/campaigns/{on_all}/results")).await;
    let hosts: Vec<u64> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["host_id"].as_u64())
        .collect();
    assert_eq!(hosts, vec![id_a], "{results}");
    let (status, _) = as_user("POST", format!("/api/v1/fleet/campaigns/{on_all}/stop")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = as_user("POST", format!("/api/v1/fleet/campaigns/{on_a}/stop")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Another team's host: the same 404 as a missing host, for a query and a refetch.
    for (path, body) in [
        (
            format!("/api/v1/fleet/hosts/{id_b}/query"),
            Some(json!({"query": "SELECT 1"})),
        ),
        (format!("/api/v1/fleet/hosts/{id_b}/refetch"), None),
        (
            "/api/v1/fleet/hosts/987654/query".to_string(),
            Some(json!({"query": "SELECT 1"})),
        ),
    ] {
        let (status, answer) = f.admin_as(Some(&user.token), "POST", &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
    }
}

fn host_query_wait(secs: u64) -> Setup {
    Setup {
        settings: Some(Box::new(move |settings, _| {
            settings.host_query_wait = std::time::Duration::from_secs(secs);
        })),
        ..Setup::default()
    }
}

async fn host_query_answers_within_the_wait_or_times_out(family: Family) {
    const WAIT_SECS: u64 = 12;
    // Long enough that a host polling moto on a loaded 2-core machine answers within it (5 s
    // failed there); the timeout half of the test waits all of it.
    let f = Flotilla::start_with(family, host_query_wait(WAIT_SECS)).await;
    let (mut host, id) = enrolled(
        &f,
        &f.enroll_secret.clone(),
        "f0000000-0000-0000-0000-000000000001",
    )
    .await;
    let first = host.read().await;
    host.answer_details(&first).await;

    // The host checks in while the request waits, and answers.
    let clock = f.clock.clone();
    let answering = tokio::spawn(async move {
        for _ in 0..50 {
            // Let the distributed function's live snapshot refresh.
            clock.advance(chrono::Duration::seconds(3));
            let asked = host.read().await;
            if let Some(name) = asked
                .keys()
                .find(|n| n.starts_with("fleet_distributed_query_"))
            {
                let name = name.clone();
                let wrote = host
                    .write(
                        json!({ &name: [{"answer": "42"}] }),
                        json!({ &name: 0 }),
                        json!({}),
                    )
                    .await;
                assert_eq!(wrote.status, StatusCode::OK);
                return host;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the host was never handed the query");
    });
    let answer = ok(
        &f,
        "POST",
        &format!("/api/v1/fleet/hosts/{id}/query"),
        Some(json!({"query": "SELECT 42 AS answer"})),
    )
    .await;
    assert_eq!(
        answer,
        json!({"host_id": id, "query": "SELECT 42 AS answer", "status": "online", "error": null, "rows": [{"answer": "42"}]})
    );
    let mut host = answering.await.expect("answering task");

    // Nobody answers: Fleet's timeout error after the configured wait, and the one-host
    // campaign is stopped, so the host is not handed it later.
    let started = std::time::Instant::now();
    let answer = ok(
        &f,
        "POST",
        &format!("/api/v1/fleet/hosts/{id}/query"),
        Some(json!({"query": "SELECT 'late'"})),
    )
    .await;
    assert!(started.elapsed() >= std::time::Duration::from_secs(WAIT_SECS));
    assert_eq!(answer["error"], "timeout waiting for results", "{answer}");
    assert_eq!(answer["rows"], json!([]));
    f.advance_secs(3);
    let read = host.read().await;
    assert!(
        !read
            .keys()
            .any(|n| n.starts_with("fleet_distributed_query_")),
        "{read:?}"
    );

    // Bad input.
    for body in [
        json!({}),
        json!({"query": ""}),
        json!({"query": 7}),
        json!({"query": "x", "extra": 1}),
    ] {
        let (status, answer) = f
            .admin(
                "POST",
                &format!("/api/v1/fleet/hosts/{id}/query"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/424242/query",
            Some(json!({"query": "SELECT 1"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn details(queries: &serde_json::Map<String, Value>) -> usize {
    queries
        .keys()
        .filter(|n| n.starts_with("fleet_detail_query_"))
        .count()
}

async fn refetch_hands_detail_queries_once(family: Family) {
    let f = Flotilla::start(family).await;
    let (mut host, id) = enrolled(
        &f,
        &f.enroll_secret.clone(),
        "f0000000-0000-0000-0000-000000000002",
    )
    .await;
    let first = host.read().await;
    assert!(details(&first) > 0, "a new host is asked for vitals");
    host.answer_details(&first).await;
    f.advance_secs(60);
    assert_eq!(details(&host.read().await), 0, "fresh vitals: none");

    ok(
        &f,
        "POST",
        &format!("/api/v1/fleet/hosts/{id}/refetch"),
        None,
    )
    .await;
    f.advance_secs(3);
    let asked = host.read().await;
    assert!(
        details(&asked) > 0,
        "a refetch hands the detail queries: {asked:?}"
    );
    assert_eq!(details(&host.read().await), 0, "once");
    host.answer_details(&asked).await;
    // Answered: the request is gone, even once the retry interval has passed.
    f.advance_secs(301);
    assert_eq!(details(&host.read().await), 0);
    let (status, _) = f
        .admin("POST", "/api/v1/fleet/hosts/424242/refetch", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// RFC 4180 records (quoted fields with doubled quotes, CRLF line ends).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

/// The export's bytes through the URL the API gave: a presigned S3 URL (AWS), fetched with
/// no credential, or the API's own route (locally), with the caller's.
async fn download(f: &Flotilla, url: &str) -> String {
    let request = if url.starts_with("http") {
        f.http().get(url)
    } else {
        f.http()
            .get(format!("{}{url}", f.base))
            .bearer_auth(&f.admin_token)
    };
    let response = request.send().await.expect("download");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.text().await.expect("text")
}

async fn export_matches_the_paged_results(family: Family) {
    let f = Flotilla::start(family).await;
    let mut hosts = Vec::new();
    for i in 0..3 {
        hosts.push(
            enrolled(
                &f,
                &f.enroll_secret.clone(),
                &format!("a0000000-0000-0000-0000-{i:012}"),
            )
            .await,
        );
    }
    let campaign = run(&f, "SELECT path, note FROM files", json!({"all": true})).await;
    let name = format!("fleet_distributed_query_{campaign}");
    f.advance_secs(3);
    for (host, _) in hosts.iter_mut() {
        assert!(host.read().await.contains_key(&name));
    }
    let awkward = json!([
        {"path": "/a,b", "note": "say \"hi\""},
        {"path": "/multi", "note": "two\nlines"},
        {"path": "/plain", "note": ""}
    ]);
    hosts[0]
        .0
        .write(json!({ &name: awkward }), json!({ &name: 0 }), json!({}))
        .await;
    // Over DynamoDB's item limit: these rows live in the blob store.
    let large: Vec<Value> = (0..3000)
        .map(|i| json!({"path": format!("/var/{i}/{}", "x".repeat(150)), "note": i.to_string()}))
        .collect();
    hosts[1]
        .0
        .write(json!({ &name: large }), json!({ &name: 0 }), json!({}))
        .await;
    hosts[2]
        .0
        .write(
            json!({ &name: "" }),
            json!({ &name: 1 }),
            json!({ &name: "failed" }),
        )
        .await;

    let paged = all_pages(&f, campaign, 1).await;
    let expected: Vec<(u64, String, Value)> = paged
        .iter()
        .flat_map(|r| {
            r["rows"].as_array().expect("rows").iter().map(move |row| {
                (
                    r["host_id"].as_u64().expect("id"),
                    r["hostname"].as_str().expect("name").to_string(),
                    row.clone(),
                )
            })
        })
        .collect();
    assert_eq!(expected.len(), 3003);

    for format in ["csv", "ndjson"] {
        let path = format!("/api/v1/fleet/campaigns/{campaign}/export?format={format}");
        let (status, queued) = f.admin("POST", &path, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        assert_eq!(queued["export"]["state"], "queued");
        assert!(queued["export"]["url"].is_null());
        let (status, _) = f
            .admin(
                "GET",
                &format!("/api/v1/fleet/campaigns/{campaign}/export/download?format={format}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "not finished yet");
        assert!(f.run_jobs().await >= 1);
        let done = ok(&f, "GET", &path, None).await;
        let export = &done["export"];
        assert_eq!(export["state"], "done", "{done}");
        assert_eq!(export["rows"], 3003);
        assert_eq!(export["hosts"], 2);
        let url = export["url"].as_str().expect("url");
        if f.family == Family::Moto {
            assert!(
                url.starts_with("http") && url.contains("X-Amz-Signature"),
                "{url}"
            );
        }
        let text = download(&f, url).await;
        assert_eq!(export["size"].as_u64(), Some(text.len() as u64));
        let got: Vec<(u64, String, Value)> = if format == "ndjson" {
            text.lines()
                .map(|line| {
                    let v: Value = serde_json::from_str(line).expect("json line");
                    (
                        v["host_id"].as_u64().expect("id"),
                        v["hostname"].as_str().expect("name").to_string(),
                        v["row"].clone(),
                    )
                })
                .collect()
        } else {
            let records = parse_csv(&text);
            assert_eq!(records[0], vec!["host_id", "hostname", "note", "path"]);
            records[1..]
                .iter()
                .map(|r| {
                    (
                        r[0].parse().expect("host id"),
                        r[1].clone(),
                        json!({"note": r[2], "path": r[3]}),
                    )
                })
                .collect()
        };
        assert_eq!(got, expected, "{format}");
    }
    let (status, _) = f
        .admin(
            "POST",
            &format!("/api/v1/fleet/campaigns/{campaign}/export?format=xml"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .admin(
            "POST",
            &format!("/api/v1/fleet/campaigns/{campaign}/export"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
