//! The host listing index, counters and their API on both adapter families: cursor paging in
//! every order, filters and search, counts and summaries against a brute-force recount after a
//! mixed sequence of changes, status moving with the clock, the CSV report, bulk operations by
//! filter.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{json, Value};

use flotilla::api::Group;
use flotilla::clock::Clock;
use flotilla::domain::host_index::fixtures::{insert_hosts, FixtureHost};
use flotilla_tests::harness::{Family, Flotilla};

flotilla_tests::both!(
    paging_visits_every_host_once_in_each_order,
    filters_search_counts_and_team_users,
    counters_match_a_recount_after_mixed_changes,
    status_moves_with_the_clock,
    csv_report_matches_the_listing,
    bulk_operations_by_filter
);

/// Fleet sizes: moto (a Python DynamoDB) reads a whole table per Query, so it gets small ones;
/// the embedded family runs the sizes that cross page, chunk and bulk-step boundaries.
fn sized(family: Family, embedded: usize, moto: usize) -> usize {
    if family == Family::Moto {
        moto
    } else {
        embedded
    }
}

fn now(f: &Flotilla) -> i64 {
    f.clock.now().timestamp()
}

/// `n` hosts: every 10th windows, every 7th darwin, else linux; versions 5.1x; seen times
/// spread over 40 days; teams as given by `team_of(i)`.
async fn fleet(f: &Flotilla, n: usize, team_of: impl Fn(usize) -> Option<u64>) -> Vec<u64> {
    let now = now(f);
    let hosts: Vec<FixtureHost> = (0..n)
        .map(|i| FixtureHost {
            // Names not in id order, some upper case, to test the name order.
            hostname: format!(
                "{}Host-{:04}",
                if i % 3 == 0 { "A" } else { "b" },
                (i * 37) % n
            ),
            uuid: format!("FIX-{i:06}"),
            hardware_serial: format!("SER{i:06}"),
            primary_ip: format!("10.0.{}.{}", i / 250, i % 250),
            platform: match i {
                i if i % 10 == 0 => "windows",
                i if i % 7 == 0 => "darwin",
                _ => "ubuntu",
            }
            .to_string(),
            osquery_version: format!("5.1{}.0", i % 3),
            team_id: team_of(i),
            enrolled_at: now - (i as i64 % 5) * 20_000,
            seen_time: now - (i as i64 * 7919) % (40 * 86_400),
        })
        .collect();
    insert_hosts(f.apps[&Group::Admin].state(), now, &hosts)
        .await
        .expect("fixture hosts")
}

/// Every host a listing shows, following `next_cursor`.
async fn walk(f: &Flotilla, token: Option<&str>, path: &str) -> Vec<Value> {
    let mut hosts = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &after {
            Some(c) => format!("{path}{sep}after={c}"),
            None => path.to_string(),
        };
        let (status, page) = f
            .admin_as(Some(token.unwrap_or(&f.admin_token)), "GET", &url, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        hosts.extend(page["hosts"].as_array().expect("hosts").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => return hosts,
        }
    }
    panic!("listing never ended: {path}");
}

fn ids(hosts: &[Value]) -> Vec<u64> {
    hosts.iter().filter_map(|h| h["id"].as_u64()).collect()
}

async fn team(f: &Flotilla, name: &str) -> u64 {
    let (status, created) = f
        .admin("POST", "/api/v1/fleet/teams", Some(json!({"name": name})))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["team"]["id"].as_u64().expect("team id")
}

async fn paging_visits_every_host_once_in_each_order(family: Family) {
    let f = Flotilla::start(family).await;
    let t1 = team(&f, "one").await;
    let all = fleet(&f, sized(family, 130, 40), |i| (i % 4 == 0).then_some(t1)).await;
    let all_set: BTreeSet<u64> = all.iter().copied().collect();
    for (key, dir) in [
        ("id", "asc"),
        ("id", "desc"),
        ("hostname", "asc"),
        ("hostname", "desc"),
        ("last_seen", "asc"),
        ("last_seen", "desc"),
    ] {
        let hosts = walk(
            &f,
            None,
            &format!("/api/v1/fleet/hosts?per_page=7&order_key={key}&order_direction={dir}"),
        )
        .await;
        let listed = ids(&hosts);
        assert_eq!(listed.len(), all.len(), "{key} {dir}: each host once");
        assert_eq!(listed.iter().copied().collect::<BTreeSet<_>>(), all_set);
        let sort_values: Vec<String> = hosts
            .iter()
            .map(|h| match key {
                "id" => format!("{:012}", h["id"].as_u64().unwrap_or(0)),
                "hostname" => format!(
                    "{}#{:012}",
                    h["hostname"].as_str().unwrap_or("").to_lowercase(),
                    h["id"].as_u64().unwrap_or(0)
                ),
                _ => format!(
                    "{}#{:012}",
                    h["seen_time"].as_str().unwrap_or(""),
                    h["id"].as_u64().unwrap_or(0)
                ),
            })
            .collect();
        let mut sorted = sort_values.clone();
        sorted.sort();
        if dir == "desc" {
            sorted.reverse();
        }
        assert_eq!(sort_values, sorted, "{key} {dir} in order");
    }
    // One team's partition of the index, both directions.
    let team_hosts: BTreeSet<u64> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 == 0)
        .map(|(_, id)| *id)
        .collect();
    for dir in ["asc", "desc"] {
        let hosts = walk(
            &f,
            None,
            &format!("/api/v1/fleet/hosts?per_page=5&team_id={t1}&order_direction={dir}"),
        )
        .await;
        let listed = ids(&hosts);
        assert_eq!(listed.len(), team_hosts.len());
        assert_eq!(listed.iter().copied().collect::<BTreeSet<_>>(), team_hosts);
    }
    // Bad cursors and parameters: 400 with a JSON error.
    for bad in [
        "/api/v1/fleet/hosts?after=%%%",
        "/api/v1/fleet/hosts?after=bm90IGEgY3Vyc29y",
        "/api/v1/fleet/hosts?after=aWQrfEkjMTIz",
        "/api/v1/fleet/hosts?order_key=bogus",
        "/api/v1/fleet/hosts?status=asleep",
        "/api/v1/fleet/hosts?team_id=x",
    ] {
        let (status, body) = f.admin("GET", bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }
    // A cursor of one order is refused by another.
    let (_, page) = f.admin("GET", "/api/v1/fleet/hosts?per_page=2", None).await;
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let (status, _) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/hosts?order_key=hostname&after={cursor}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Fleet's page still works.
    let (_, page1) = f
        .admin("GET", "/api/v1/fleet/hosts?page=1&per_page=10", None)
        .await;
    assert_eq!(ids(page1["hosts"].as_array().expect("hosts")), all[10..20]);
}

async fn filters_search_counts_and_team_users(family: Family) {
    let f = Flotilla::start(family).await;
    let t1 = team(&f, "one").await;
    let t2 = team(&f, "two").await;
    let all = fleet(&f, sized(family, 200, 60), |i| match i % 3 {
        0 => Some(t1),
        1 => Some(t2),
        _ => None,
    })
    .await;
    let everything = walk(&f, None, "/api/v1/fleet/hosts?per_page=500").await;
    assert_eq!(everything.len(), all.len());
    let now = now(&f);
    let expect = |keep: &dyn Fn(&Value) -> bool| -> BTreeSet<u64> {
        everything
            .iter()
            .filter(|h| keep(h))
            .filter_map(|h| h["id"].as_u64())
            .collect()
    };
    let seen = |h: &Value| {
        chrono::DateTime::parse_from_rfc3339(h["seen_time"].as_str().unwrap_or(""))
            .map(|t| t.timestamp())
            .unwrap_or(0)
    };
    let cases: Vec<(String, BTreeSet<u64>, bool)> = vec![
        (
            "platform=windows".into(),
            expect(&|h| h["platform"] == "windows"),
            true,
        ),
        (
            "platform=linux".into(),
            expect(&|h| h["platform"] == "ubuntu"),
            true,
        ),
        (
            "osquery_version=5.11.0".into(),
            expect(&|h| h["osquery_version"] == "5.11.0"),
            true,
        ),
        (
            format!("team_id={t1}"),
            expect(&|h| h["team_id"] == json!(t1)),
            true,
        ),
        (
            "team_id=0".into(),
            expect(&|h| h["team_id"].is_null()),
            true,
        ),
        (
            "status=online".into(),
            expect(&|h| now - seen(h) <= 10 + 360),
            true,
        ),
        (
            "status=offline".into(),
            expect(&|h| now - seen(h) > 10 + 360),
            true,
        ),
        (
            "status=missing".into(),
            expect(&|h| now - seen(h) > 30 * 86_400),
            false, // day buckets: exact only to the day
        ),
        (
            "query=ser00004".into(),
            expect(&|h| {
                h["hardware_serial"]
                    .as_str()
                    .unwrap_or("")
                    .to_lowercase()
                    .contains("ser00004")
            }),
            true,
        ),
        (
            "query=10.0.0.1".into(),
            expect(&|h| h["primary_ip"].as_str().unwrap_or("").contains("10.0.0.1")),
            true,
        ),
        (
            format!("team_id={t2}&platform=windows&query=host"),
            expect(&|h| h["team_id"] == json!(t2) && h["platform"] == "windows"),
            true,
        ),
    ];
    for (params, expected, exact_count) in cases {
        let listed = walk(
            &f,
            None,
            &format!("/api/v1/fleet/hosts?per_page=9&{params}"),
        )
        .await;
        let listed_ids = ids(&listed);
        assert_eq!(listed_ids.len(), expected.len(), "{params}: no duplicates");
        assert_eq!(
            listed_ids.into_iter().collect::<BTreeSet<_>>(),
            expected,
            "{params}"
        );
        let (status, count) = f
            .admin("GET", &format!("/api/v1/fleet/hosts/count?{params}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{count}");
        if exact_count {
            assert_eq!(count["count"], json!(expected.len()), "{params}: {count}");
        }
    }
    // The summary against a recount.
    let (_, summary) = f.admin("GET", "/api/v1/fleet/host_summary", None).await;
    assert_eq!(summary["totals_hosts_count"], json!(all.len()));
    let windows = expect(&|h| h["platform"] == "windows").len();
    let platforms = summary["platforms"].as_array().expect("platforms");
    assert!(
        platforms.contains(&json!({"platform": "windows", "hosts_count": windows})),
        "{summary}"
    );
    let online = expect(&|h| now - seen(h) <= 370).len();
    assert_eq!(summary["online_count"], json!(online));
    assert_eq!(summary["offline_count"], json!(all.len() - online));

    // A team user sees only the team: listing, counts, summary, even when asking for more.
    let user = f.user(None, &[(t1, "observer")]).await;
    let t1_hosts = expect(&|h| h["team_id"] == json!(t1));
    for path in [
        "/api/v1/fleet/hosts?per_page=11".to_string(),
        format!("/api/v1/fleet/hosts?per_page=11&team_id={t2}"),
        format!("/api/v1/fleet/hosts?per_page=11&team_id={t1},{t2},0"),
    ] {
        let listed = walk(&f, Some(&user.token), &path).await;
        let listed: BTreeSet<u64> = ids(&listed).into_iter().collect();
        assert!(listed.is_subset(&t1_hosts), "{path}");
        if !path.contains(&format!("team_id={t2}")) || path.contains(',') {
            assert_eq!(listed, t1_hosts, "{path}");
        }
    }
    let (_, count) = f
        .admin_as(Some(&user.token), "GET", "/api/v1/fleet/hosts/count", None)
        .await;
    assert_eq!(count["count"], json!(t1_hosts.len()));
    let (_, summary) = f
        .admin_as(Some(&user.token), "GET", "/api/v1/fleet/host_summary", None)
        .await;
    assert_eq!(summary["totals_hosts_count"], json!(t1_hosts.len()));
}

/// Totals by platform, version and team from a full listing (the brute-force recount).
async fn recount(f: &Flotilla) -> (usize, BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let hosts = walk(f, None, "/api/v1/fleet/hosts?per_page=500").await;
    let mut platforms = BTreeMap::new();
    let mut versions = BTreeMap::new();
    for h in &hosts {
        let family = match h["platform"].as_str().unwrap_or("") {
            "" => "unknown",
            "darwin" => "darwin",
            "windows" => "windows",
            "chrome" => "chrome",
            _ => "linux",
        };
        *platforms.entry(family.to_string()).or_insert(0) += 1;
        let v = h["osquery_version"].as_str().unwrap_or("").to_string();
        *versions
            .entry(if v.is_empty() { "unknown".into() } else { v })
            .or_insert(0) += 1;
    }
    (hosts.len(), platforms, versions)
}

async fn assert_counters_agree(f: &Flotilla, team_ids: &[Option<u64>]) {
    let (total, platforms, versions) = recount(f).await;
    let (_, summary) = f.admin("GET", "/api/v1/fleet/host_summary", None).await;
    assert_eq!(summary["totals_hosts_count"], json!(total), "{summary}");
    let pairs = |list: &Value, name: &str| -> BTreeMap<String, i64> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p[name].as_str().unwrap_or("").to_string(),
                    p["hosts_count"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    };
    assert_eq!(
        pairs(&summary["platforms"], "platform"),
        platforms,
        "{summary}"
    );
    assert_eq!(
        pairs(&summary["osquery_versions"], "osquery_version"),
        versions,
        "{summary}"
    );
    let mut per_team_sum = 0;
    for team in team_ids {
        let id = team.unwrap_or(0);
        let listed = walk(
            f,
            None,
            &format!("/api/v1/fleet/hosts?per_page=500&team_id={id}"),
        )
        .await;
        let (_, s) = f
            .admin(
                "GET",
                &format!("/api/v1/fleet/host_summary?team_id={id}"),
                None,
            )
            .await;
        assert_eq!(
            s["totals_hosts_count"],
            json!(listed.len()),
            "team {id}: {s}"
        );
        assert_eq!(
            s["online_count"].as_i64().unwrap_or(-1) + s["offline_count"].as_i64().unwrap_or(-1),
            listed.len() as i64
        );
        let online = listed.iter().filter(|h| h["status"] == "online").count();
        assert_eq!(s["online_count"], json!(online), "team {id}: {s}");
        per_team_sum += listed.len();
    }
    assert_eq!(per_team_sum, total, "every host in exactly one team scope");
}

async fn counters_match_a_recount_after_mixed_changes(family: Family) {
    let f = Flotilla::start(family).await;
    let t1 = team(&f, "one").await;
    let t2 = team(&f, "two").await;
    let mut clients = Vec::new();
    for i in 0..5 {
        let mut c = f.client(&format!("C0000000-0000-0000-0000-00000000000{i}"));
        assert_eq!(c.enroll().await.status, StatusCode::OK);
        clients.push(c);
    }
    // Re-enroll of the same UUID (a retried enroll, a reinstalled osquery): still 5 hosts.
    let mut again = f.client("C0000000-0000-0000-0000-000000000000");
    again.enroll().await;
    clients[1].enroll().await;
    assert_counters_agree(&f, &[None]).await;
    let (_, s) = f.admin("GET", "/api/v1/fleet/host_summary", None).await;
    assert_eq!(s["totals_hosts_count"], 5);
    assert_eq!(s["new_count"], 5);

    // Vitals change the platform and the version of one host.
    clients[2].platform = "windows";
    let queries = clients[2].read().await;
    assert_eq!(
        clients[2].answer_details(&queries).await.status,
        StatusCode::OK
    );
    assert_counters_agree(&f, &[None]).await;
    let windows = walk(&f, None, "/api/v1/fleet/hosts?platform=windows").await;
    assert_eq!(windows.len(), 1);
    assert!(windows[0]["hostname"]
        .as_str()
        .unwrap_or("")
        .ends_with("-vitals"));

    // Transfers, a team deletion, a delete, a bulk delete by filter.
    let listed = ids(&walk(&f, None, "/api/v1/fleet/hosts").await);
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/transfer",
            Some(json!({"team_id": t1, "hosts": [listed[0], listed[1]]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/transfer",
            Some(json!({"team_id": t2, "hosts": [listed[2], listed[3]]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_counters_agree(&f, &[None, Some(t1), Some(t2)]).await;
    let (status, _) = f
        .admin("DELETE", &format!("/api/v1/fleet/teams/{t2}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_counters_agree(&f, &[None, Some(t1)]).await;
    let (status, _) = f
        .admin(
            "DELETE",
            &format!("/api/v1/fleet/hosts/{}", listed[4]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_counters_agree(&f, &[None, Some(t1)]).await;
    let (status, answer) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/delete",
            Some(json!({"filters": {"team_id": t1}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["count"], 2);
    f.run_jobs().await;
    assert_counters_agree(&f, &[None, Some(t1)]).await;
    let (_, s) = f.admin("GET", "/api/v1/fleet/host_summary", None).await;
    assert_eq!(s["totals_hosts_count"], 2);
    // A deleted host enrolls again as a new host, counted once.
    clients[0].node_key = None;
    clients[0].enroll().await;
    assert_counters_agree(&f, &[None, Some(t1)]).await;
}

async fn status_moves_with_the_clock(family: Family) {
    let f = Flotilla::start(family).await;
    let mut a = f.client("5A000000-0000-0000-0000-000000000001");
    let mut b = f.client("5A000000-0000-0000-0000-000000000002");
    a.enroll().await;
    b.enroll().await;
    let s = summary(&f).await;
    assert_eq!(
        (s["online_count"].clone(), s["offline_count"].clone()),
        (json!(2), json!(0))
    );
    f.advance_secs(10 * 60);
    let s = summary(&f).await;
    assert_eq!(
        (s["online_count"].clone(), s["offline_count"].clone()),
        (json!(0), json!(2))
    );
    let offline = walk(&f, None, "/api/v1/fleet/hosts?status=offline").await;
    assert_eq!(offline.len(), 2);
    // One checks in: online again, in the counters and the listing alike.
    assert_eq!(a.config().await.status, StatusCode::OK);
    let s = summary(&f).await;
    assert_eq!(
        (s["online_count"].clone(), s["offline_count"].clone()),
        (json!(1), json!(1))
    );
    let online = walk(&f, None, "/api/v1/fleet/hosts?status=online").await;
    assert_eq!(online.len(), 1);
    assert_eq!(online[0]["status"], "online");
    let (_, count) = f
        .admin("GET", "/api/v1/fleet/hosts/count?status=online", None)
        .await;
    assert_eq!(count["count"], 1);
    // New for a day, missing after 30 days unseen.
    assert_eq!(s["new_count"], 2);
    f.advance_secs(25 * 3600);
    assert_eq!(summary(&f).await["new_count"], 0);
    f.advance_secs(31 * 86_400);
    assert_eq!(a.config().await.status, StatusCode::OK);
    let s = summary(&f).await;
    assert_eq!(s["missing_30_days_count"], 1, "{s}");
    assert_eq!(s["online_count"], 1, "{s}");
    let missing = walk(&f, None, "/api/v1/fleet/hosts?status=missing").await;
    assert_eq!(missing.len(), 1);
}

async fn csv_report_matches_the_listing(family: Family) {
    let f = Flotilla::start(family).await;
    // More than two report pages of 500 (embedded).
    let n = sized(family, 1200, 60);
    fleet(&f, n, |_| None).await;
    for params in ["platform=windows", "", "query=host-00&order_key=hostname"] {
        let listed = walk(
            &f,
            None,
            &format!("/api/v1/fleet/hosts?per_page=500&{params}"),
        )
        .await;
        let response = f
            .http()
            .get(format!(
                "{}/api/v1/fleet/hosts/report?format=csv&{params}",
                f.base
            ))
            .bearer_auth(&f.admin_token)
            .send()
            .await
            .expect("report");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv"));
        let text = response.text().await.expect("csv");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("id,hostname,uuid,hardware_serial,primary_ip,platform,osquery_version,team_id,status,last_seen,enrolled_at")
        );
        let csv_ids: Vec<u64> = lines
            .map(|l| l.split(',').next().unwrap_or("").parse().expect("id"))
            .collect();
        assert_eq!(csv_ids, ids(&listed), "{params}");
    }
    let (status, body) = f
        .admin("GET", "/api/v1/fleet/hosts/report?format=xml", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn bulk_operations_by_filter(family: Family) {
    let f = Flotilla::start(family).await;
    let t1 = team(&f, "one").await;
    // More than one bulk step of 200 after the transfer (embedded).
    let n = sized(family, 450, 40);
    let all = fleet(&f, n, |_| None).await;
    let windows: BTreeSet<u64> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 == 0)
        .map(|(_, id)| *id)
        .collect();
    // Transfer every windows host: a job in steps.
    let (status, answer) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/transfer/filter",
            Some(json!({"team_id": t1, "filters": {"platform": "windows"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["count"], json!(windows.len()));
    f.run_jobs().await;
    let moved: BTreeSet<u64> =
        ids(&walk(&f, None, &format!("/api/v1/fleet/hosts?team_id={t1}")).await)
            .into_iter()
            .collect();
    assert_eq!(moved, windows);
    let (_, s) = f
        .admin(
            "GET",
            &format!("/api/v1/fleet/host_summary?team_id={t1}"),
            None,
        )
        .await;
    assert_eq!(s["totals_hosts_count"], json!(windows.len()));
    // Delete by filter (search), more than one step's worth.
    let (status, answer) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/delete",
            Some(json!({"filters": {"team_id": 0, "query": "host"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["count"], json!(all.len() - windows.len()));
    f.run_jobs().await;
    let (_, s) = f.admin("GET", "/api/v1/fleet/host_summary", None).await;
    assert_eq!(s["totals_hosts_count"], json!(windows.len()));
    // Delete by ids; both forms at once, or neither, is a 400.
    let first = *windows.iter().next().expect("a host");
    let (status, _) = f
        .admin(
            "POST",
            "/api/v1/fleet/hosts/delete",
            Some(json!({"ids": [first]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = f
        .admin("POST", "/api/v1/fleet/hosts/delete", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, activities) = f.admin("GET", "/api/v1/fleet/activities", None).await;
    let kinds: Vec<&str> = activities["activities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"transferred_hosts") && kinds.contains(&"deleted_hosts"),
        "{kinds:?}"
    );
}

async fn summary(f: &Flotilla) -> Value {
    f.admin("GET", "/api/v1/fleet/host_summary", None).await.1
}
