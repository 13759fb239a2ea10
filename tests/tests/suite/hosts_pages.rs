//! The Hosts pages driven like a user on both adapter families: the list's search, filters,
//! sort and cursor pages (every matching host seen once following the Next links), its CSV
//! link against what it lists, bulk transfer and delete with the count confirmation, the
//! refusals (an observer, another team's maintainer), and one host's page (vitals, agent
//! options in effect, refetch, transfer, delete).

use std::collections::{BTreeSet, HashMap};

use flotilla::api::Group;
use flotilla::clock::Clock;
use flotilla::domain::host_index::fixtures::{insert_hosts, FixtureHost};
use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::page_client::{Browser, Page};
use reqwest::StatusCode;
use serde_json::{json, Value};

flotilla_tests::both!(
    list_search_filters_sort_and_pages,
    bulk_changes_are_confirmed_with_their_count,
    refusals_for_observers_and_other_teams,
    host_page_vitals_options_and_actions,
    orbit_version_from_fleetd_extension,
);

async fn create_team(f: &Flotilla, name: &str) -> u64 {
    f.break_glass_ok("POST", "/api/v1/fleet/teams", Some(json!({ "name": name })))
        .await["team"]["id"]
        .as_u64()
        .expect("team id")
}

const PLATFORMS: [&str; 3] = ["darwin", "ubuntu", "windows"];

/// `n` hosts: teams in turn from `teams`, platforms in turn, every third seen an hour ago.
async fn fixture(f: &Flotilla, n: usize, teams: &[Option<u64>]) -> Vec<(u64, FixtureHost)> {
    let now = f.clock.now().timestamp();
    let hosts: Vec<FixtureHost> = (0..n)
        .map(|i| FixtureHost {
            hostname: format!("page-host-{i:03}"),
            uuid: format!("0A6E0000-0000-0000-0000-{i:012}"),
            hardware_serial: format!("SERIAL-{i:04}"),
            primary_ip: format!("10.1.0.{i}"),
            platform: PLATFORMS[i % 3].to_string(),
            osquery_version: if i % 2 == 0 { "5.12.1" } else { "5.11.0" }.to_string(),
            team_id: teams[i % teams.len()],
            enrolled_at: now - 2 * 86_400,
            seen_time: if i % 3 == 0 { now - 3600 } else { now - 5 },
        })
        .collect();
    let ids = insert_hosts(f.apps[&Group::Admin].state(), now, &hosts)
        .await
        .expect("fixture hosts");
    ids.into_iter().zip(hosts).collect()
}

fn unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// Every `href` of the page that starts with `prefix`, unescaped.
fn links(page: &Page, prefix: &str) -> Vec<String> {
    page.body
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(unescape)
        .filter(|href| href.starts_with(prefix))
        .collect()
}

/// The host ids the page's rows link to, in order.
fn listed(page: &Page) -> Vec<u64> {
    links(page, "/hosts/")
        .iter()
        .filter_map(|href| href.trim_start_matches("/hosts/").parse().ok())
        .collect()
}

/// The page's "Next page" link.
fn next_link(page: &Page) -> Option<String> {
    let at = page.body.find("rel=\"next\"")?;
    let before = &page.body[..at];
    let start = before.rfind("href=\"")? + "href=\"".len();
    Some(unescape(before[start..].split('"').next()?))
}

/// Every host the list shows from `path`, following the Next links to the end.
async fn walk(browser: &Browser<'_>, path: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut at = path.to_string();
    for _ in 0..200 {
        let page = browser.get(&at).await;
        assert_eq!(page.status, StatusCode::OK, "{at}: {}", page.body);
        ids.extend(listed(&page));
        match next_link(&page) {
            Some(next) => {
                assert!(next.contains("after="), "{next}");
                at = next;
            }
            None => return ids,
        }
    }
    panic!("the pages never ended: {path}");
}

fn once(ids: &[u64]) -> BTreeSet<u64> {
    let set: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "each host once: {ids:?}");
    set
}

fn expect(hosts: &[(u64, FixtureHost)], keep: impl Fn(&FixtureHost) -> bool) -> BTreeSet<u64> {
    expect_i(hosts, |_, h| keep(h))
}

/// The ids of the fixture hosts (by their index) that `keep` accepts.
fn expect_i(
    hosts: &[(u64, FixtureHost)],
    keep: impl Fn(usize, &FixtureHost) -> bool,
) -> BTreeSet<u64> {
    hosts
        .iter()
        .enumerate()
        .filter(|(i, (_, h))| keep(*i, h))
        .map(|(_, (id, _))| *id)
        .collect()
}

async fn get_with_cookie(f: &Flotilla, token: &str, path: &str) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", f.base))
        .header("cookie", format!("__Host-flotilla_session={token}"))
        .send()
        .await
        .expect("GET");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

async fn list_search_filters_sort_and_pages(family: Family) {
    let f = Flotilla::start(family).await;
    let blue = create_team(&f, "Blue").await;
    let red = create_team(&f, "Red").await;
    let hosts = fixture(&f, 24, &[Some(blue), Some(red), None, Some(red)]).await;
    let all = expect(&hosts, |_| true);
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));

    let page = browser.get("/hosts").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<strong>24 hosts</strong> match."),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("href=\"/hosts\" aria-current=\"page\">Hosts</a>"));
    assert!(page.body.contains("<label for=\"h-query\">Search</label>"));
    assert!(page.body.contains("page-host-000") && page.body.contains("10.1.0.1<"));

    // Pages of 5 in enroll order, by name (both ways) and by last seen: each host once.
    for (path, ordered) in [
        ("/hosts?per_page=5", Some(false)),
        ("/hosts?per_page=5&order_key=hostname", Some(false)),
        (
            "/hosts?per_page=5&order_key=hostname&order_direction=desc",
            Some(true),
        ),
        (
            "/hosts?per_page=5&order_key=last_seen&order_direction=desc",
            None,
        ),
    ] {
        let ids = walk(&browser, path).await;
        assert_eq!(once(&ids), all, "{path}");
        if let Some(descending) = ordered {
            // Fixture names follow the ids.
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            if descending {
                sorted.reverse();
            }
            assert_eq!(ids, sorted, "{path}");
        }
    }
    // The next page keeps the filters and the sort; the first page drops the cursor.
    let first = browser
        .get("/hosts?per_page=5&platform=darwin&order_key=hostname")
        .await;
    let next = next_link(&first).expect("a next page");
    assert!(next.contains("platform=darwin") && next.contains("order_key=hostname"));
    let second = browser.get(&next).await;
    assert!(links(&second, "/hosts?")
        .iter()
        .any(|l| !l.contains("after=")
            && l.contains("platform=darwin")
            && l.contains("per_page=5")));
    assert!(second.body.contains(">First page</a>"));

    // Filters: search, team, platform, status, version, and all of them at once.
    let cases: Vec<(String, BTreeSet<u64>)> = vec![
        (
            "query=serial-0007".into(),
            expect(&hosts, |h| h.hardware_serial == "SERIAL-0007"),
        ),
        (
            "query=10.1.0.1".into(),
            expect(&hosts, |h| h.primary_ip.starts_with("10.1.0.1")),
        ),
        (
            format!("team_id={blue}"),
            expect(&hosts, |h| h.team_id == Some(blue)),
        ),
        ("team_id=0".into(), expect(&hosts, |h| h.team_id.is_none())),
        (
            "platform=linux".into(),
            expect(&hosts, |h| h.platform == "ubuntu"),
        ),
        ("status=offline".into(), expect_i(&hosts, |i, _| i % 3 == 0)),
        ("status=online".into(), expect_i(&hosts, |i, _| i % 3 != 0)),
        (
            "osquery_version=5.11.0".into(),
            expect(&hosts, |h| h.osquery_version == "5.11.0"),
        ),
        (
            format!("team_id={red}&platform=darwin&osquery_version=5.12.1&query=page-host"),
            expect(&hosts, |h| {
                h.team_id == Some(red) && h.platform == "darwin" && h.osquery_version == "5.12.1"
            }),
        ),
    ];
    for (query, expected) in &cases {
        let path = format!("/hosts?per_page=3&{query}");
        let ids = walk(&browser, &path).await;
        assert_eq!(&once(&ids), expected, "{path}");
        let page = browser.get(&path).await;
        let count = if expected.len() == 1 {
            "<strong>1 host</strong> matches.".to_string()
        } else {
            format!("<strong>{} hosts</strong> match.", expected.len())
        };
        assert!(page.body.contains(&count), "{path}: {count}");

        // The CSV link: the same filter, and its rows are the hosts listed.
        let csv = links(&page, "/api/v1/fleet/hosts/report?")
            .into_iter()
            .next()
            .expect("a CSV link");
        assert!(csv.contains("format=csv"));
        let (status, text) = get_with_cookie(&f, &admin.token, &csv).await;
        assert_eq!(status, StatusCode::OK, "{csv}: {text}");
        let rows: BTreeSet<u64> = text
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next()?.parse().ok())
            .collect();
        assert_eq!(&rows, expected, "{csv}");
    }
    // The form as a browser sends it, every field even when empty: no filter.
    let ids = walk(
        &browser,
        "/hosts?query=&team_id=&platform=&status=&osquery_version=&per_page=10",
    )
    .await;
    assert_eq!(once(&ids), all);
    // The form shows the filter it was asked.
    let page = browser
        .get(&format!("/hosts?team_id={red}&status=online&query=abc"))
        .await;
    assert!(page
        .body
        .contains(&format!("<option value=\"{red}\" selected>Red</option>")));
    assert!(page.body.contains("<option value=\"online\" selected>"));
    assert!(page.body.contains("value=\"abc\""));

    // Junk parameters are refused, as an HTML page.
    for path in [
        "/hosts?per_page=0",
        "/hosts?per_page=501",
        "/hosts?per_page=many",
        "/hosts?status=asleep",
        "/hosts?order_key=colour",
        "/hosts?order_direction=up",
        "/hosts?after=not-a-cursor",
        "/hosts?team_id=blue",
        "/hosts?page=2",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.body.contains("<html"), "{path}: an HTML page");
    }

    // A team user's list: its team's hosts only, whatever team it asks for.
    let maintainer = f.user(None, &[(blue, "maintainer")]).await;
    let team_browser = Browser::new(&f, Some(maintainer.token.clone()));
    let blues = expect(&hosts, |h| h.team_id == Some(blue));
    assert_eq!(once(&walk(&team_browser, "/hosts?per_page=4").await), blues);
    assert!(walk(&team_browser, &format!("/hosts?team_id={red}"))
        .await
        .is_empty());
    let page = team_browser.get("/hosts").await;
    assert!(
        !page.body.contains("Red</option>"),
        "only its teams to filter by"
    );
    let csv = links(&page, "/api/v1/fleet/hosts/report?").remove(0);
    let (_, text) = get_with_cookie(&f, &maintainer.token, &csv).await;
    assert_eq!(text.lines().count() - 1, blues.len());
}

async fn bulk_changes_are_confirmed_with_their_count(family: Family) {
    let f = Flotilla::start(family).await;
    let blue = create_team(&f, "Blue").await;
    let hosts = fixture(&f, 12, &[None]).await;
    let id = |i: usize| hosts[i].0.to_string();
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let team_of = |host: String| {
        let f = &f;
        async move {
            let (status, body) = f
                .admin("GET", &format!("/api/v1/fleet/hosts/{host}"), None)
                .await;
            (status, body["host"]["team_id"].as_u64())
        }
    };

    // The list has a checkbox per row, select-all, and the actions.
    let page = browser.get("/hosts").await;
    assert!(page
        .body
        .contains(&format!("name=\"ids\" value=\"{}\"", id(0))));
    assert!(page.body.contains("data-select-all=\"ids\""));
    assert!(page.body.contains("action=\"/hosts/bulk\""));
    assert!(page.body.contains("All 12 hosts that match this filter"));

    // Transfer two checked hosts: first the confirmation (nothing moves), then the change.
    let blue_text = blue.to_string();
    let (a, b) = (id(0), id(1));
    let fields = vec![
        ("action", "transfer"),
        ("scope", "selected"),
        ("ids", a.as_str()),
        ("ids", b.as_str()),
        ("transfer_to", blue_text.as_str()),
    ];
    let confirm = browser.post("/hosts/bulk", &fields).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm.body.contains("<h1>Move 2 hosts to Blue?</h1>"),
        "{}",
        confirm.body
    );
    assert!(confirm
        .body
        .contains(&format!("name=\"ids\" value=\"{a}\"")));
    assert!(confirm.body.contains("name=\"confirm\""));
    assert_eq!(team_of(a.clone()).await, (StatusCode::OK, None), "not yet");
    let mut confirmed = fields.clone();
    confirmed.push(("confirm", "yes"));
    let done = browser.post("/hosts/bulk", &confirmed).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location(),
        Some("/hosts?notice=hosts-transferred&count=2")
    );
    assert_eq!(team_of(a.clone()).await.1, Some(blue));
    assert_eq!(team_of(b.clone()).await.1, Some(blue));
    let page = browser.get(done.location().expect("location")).await;
    assert!(page.body.contains("2 hosts moved to their new team."));

    // Delete every Windows host by filter: the count first, then a job does it.
    let windows = expect(&hosts, |h| h.platform == "windows");
    let fields = vec![
        ("action", "delete"),
        ("scope", "filter"),
        ("platform", "windows"),
    ];
    let confirm = browser.post("/hosts/bulk", &fields).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm
            .body
            .contains(&format!("<h1>Delete {} hosts?</h1>", windows.len())),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("name=\"platform\" value=\"windows\""));
    f.run_jobs().await;
    for host in &windows {
        assert_eq!(team_of(host.to_string()).await.0, StatusCode::OK, "not yet");
    }
    let mut confirmed = fields.clone();
    confirmed.push(("confirm", "yes"));
    let done = browser.post("/hosts/bulk", &confirmed).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location(),
        Some(format!("/hosts?notice=bulk-started&count={}", windows.len()).as_str())
    );
    f.run_jobs().await;
    for host in &windows {
        assert_eq!(team_of(host.to_string()).await.0, StatusCode::NOT_FOUND);
    }
    let page = browser.get("/hosts?platform=windows").await;
    assert!(page.body.contains("No hosts match."));

    // A forged post (no page asked first, no confirm) answers the confirmation and deletes
    // nothing; the confirmed one deletes the checked host.
    let c = id(3);
    let forged = browser
        .post("/hosts/bulk", &[("action", "delete"), ("ids", &c)])
        .await;
    assert_eq!(forged.status, StatusCode::OK);
    assert!(forged.body.contains("<h1>Delete 1 host?</h1>"));
    assert_eq!(team_of(c.clone()).await.0, StatusCode::OK);
    let done = browser
        .post(
            "/hosts/bulk",
            &[("action", "delete"), ("ids", &c), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.location(), Some("/hosts?notice=hosts-deleted&count=1"));
    assert_eq!(team_of(c).await.0, StatusCode::NOT_FOUND);

    // Malformed forms: 400, nothing changes.
    let d = id(4);
    for fields in [
        vec![
            ("action", "explode"),
            ("ids", d.as_str()),
            ("confirm", "yes"),
        ],
        vec![("action", "delete"), ("ids", "four"), ("confirm", "yes")],
        vec![("action", "delete"), ("confirm", "yes")],
        vec![
            ("action", "delete"),
            ("ids", d.as_str()),
            ("colour", "red"),
            ("confirm", "yes"),
        ],
        vec![
            ("action", "transfer"),
            ("ids", d.as_str()),
            ("transfer_to", "blue"),
            ("confirm", "yes"),
        ],
        vec![
            ("action", "delete"),
            ("scope", "filter"),
            ("status", "asleep"),
            ("confirm", "yes"),
        ],
    ] {
        let page = browser.post("/hosts/bulk", &fields).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{fields:?}: {}",
            page.body
        );
    }
    assert_eq!(team_of(d.clone()).await.0, StatusCode::OK);
    // A host that does not exist: 404, and none of the others is deleted.
    let page = browser
        .post(
            "/hosts/bulk",
            &[
                ("action", "delete"),
                ("ids", &d),
                ("ids", "987654"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(team_of(d).await.0, StatusCode::OK);
}

async fn refusals_for_observers_and_other_teams(family: Family) {
    let f = Flotilla::start(family).await;
    let blue = create_team(&f, "Blue").await;
    let red = create_team(&f, "Red").await;
    let hosts = fixture(&f, 6, &[Some(blue), Some(red)]).await;
    let blue_host = hosts[0].0.to_string();
    let red_host = hosts[1].0.to_string();
    let exists = |host: String| {
        let f = &f;
        async move {
            f.admin("GET", &format!("/api/v1/fleet/hosts/{host}"), None)
                .await
                .0
                == StatusCode::OK
        }
    };

    // An observer sees the hosts, no checkboxes or actions, and is refused the posts.
    let observer = f.user(Some("observer"), &[]).await;
    let browser = Browser::new(&f, Some(observer.token.clone()));
    let page = browser.get("/hosts").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(listed(&page).len(), 6);
    assert!(!page.body.contains("name=\"ids\""));
    assert!(!page.body.contains("/hosts/bulk"));
    assert!(!page.body.contains("data-select-all"));
    for fields in [
        vec![
            ("action", "delete"),
            ("ids", blue_host.as_str()),
            ("confirm", "yes"),
        ],
        vec![("action", "delete"), ("ids", blue_host.as_str())],
        vec![
            ("action", "delete"),
            ("scope", "filter"),
            ("confirm", "yes"),
        ],
    ] {
        let page = browser.post("/hosts/bulk", &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    let page = browser.get(&format!("/hosts/{blue_host}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("/delete\""), "no delete form");
    assert!(!page.body.contains("/transfer\""), "no transfer form");
    assert_eq!(
        browser
            .post(&format!("/hosts/{blue_host}/delete"), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    f.run_jobs().await;
    assert!(exists(blue_host.clone()).await);

    // Blue's maintainer: Red's host is not there (404), and a bulk post naming it is refused.
    let maintainer = f.user(None, &[(blue, "maintainer")]).await;
    let browser = Browser::new(&f, Some(maintainer.token.clone()));
    let page = browser.get("/hosts").await;
    assert!(page
        .body
        .contains(&format!("name=\"ids\" value=\"{blue_host}\"")));
    assert!(!page.body.contains(&format!("href=\"/hosts/{red_host}\"")));
    for path in [format!("/hosts/{red_host}"), "/hosts/987654".to_string()] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("page-host-001"));
    }
    for action in ["delete", "refetch"] {
        let page = browser
            .post(&format!("/hosts/{red_host}/{action}"), &[])
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{action}");
    }
    let blue_text = blue.to_string();
    let page = browser
        .post(
            &format!("/hosts/{red_host}/transfer"),
            &[("team_id", &blue_text)],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    for fields in [
        vec![
            ("action", "delete"),
            ("ids", red_host.as_str()),
            ("confirm", "yes"),
        ],
        vec![
            ("action", "delete"),
            ("ids", blue_host.as_str()),
            ("ids", red_host.as_str()),
            ("confirm", "yes"),
        ],
        vec![
            ("action", "transfer"),
            ("ids", red_host.as_str()),
            ("transfer_to", blue_text.as_str()),
            ("confirm", "yes"),
        ],
        vec![("action", "delete"), ("ids", red_host.as_str())],
    ] {
        let page = browser.post("/hosts/bulk", &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    // Moving its host to a team it has no role in, or to no team: refused.
    let red_text = red.to_string();
    for to in [red_text.as_str(), "0"] {
        let page = browser
            .post(
                "/hosts/bulk",
                &[
                    ("action", "transfer"),
                    ("ids", &blue_host),
                    ("transfer_to", to),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "to {to}");
    }
    // Maintainer of Blue and observer of Red: Red's hosts are listed without a checkbox.
    let mixed = f
        .user(None, &[(blue, "maintainer"), (red, "observer")])
        .await;
    let page = Browser::new(&f, Some(mixed.token.clone()))
        .get("/hosts")
        .await;
    assert!(page.body.contains(&format!("href=\"/hosts/{red_host}\"")));
    assert!(page
        .body
        .contains(&format!("name=\"ids\" value=\"{blue_host}\"")));
    assert!(!page
        .body
        .contains(&format!("name=\"ids\" value=\"{red_host}\"")));
    // By filter, asking for Red's hosts: its teams only, so none.
    let confirm = browser
        .post(
            "/hosts/bulk",
            &[
                ("action", "delete"),
                ("scope", "filter"),
                ("team_id", &red_text),
            ],
        )
        .await;
    assert!(
        confirm.body.contains("<h1>Delete 0 hosts?</h1>"),
        "{}",
        confirm.body
    );
    let done = browser
        .post(
            "/hosts/bulk",
            &[
                ("action", "delete"),
                ("scope", "filter"),
                ("team_id", &red_text),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    f.run_jobs().await;
    for (host, _) in &hosts {
        assert!(exists(host.to_string()).await, "host {host} stays");
    }
}

async fn host_page_vitals_options_and_actions(family: Family) {
    let f = Flotilla::start(family).await;
    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let mut osquery = f.client("0A6E1111-0000-0000-0000-000000000001");
    assert_eq!(osquery.enroll().await.status, StatusCode::OK);
    let (_, listed) = f.admin("GET", "/api/v1/fleet/hosts", None).await;
    let id = listed["hosts"][0]["id"].as_u64().expect("host id");

    let team = create_team(&f, "Green").await;

    // Before vitals: what enrollment said, and "Not reported yet" for the rest.
    let page = browser.get(&format!("/hosts/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<h1>host-0a6e1111</h1>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Not reported yet"));
    assert!(page.body.contains("0A6E1111-0000-0000-0000-000000000001"));
    let queries = osquery.read().await;
    osquery.answer_details(&queries).await;

    let page = browser.get(&format!("/hosts/{id}")).await;
    for text in [
        "<h1>host-0a6e1111-vitals</h1>",
        "192.0.2.7",
        "08:00:27:aa:bb:cc",
        "Xeon",
        "SER-1",
        "5.12.1",
        "8.6 GB",
        "21.5 GB free of 50.0 GB (42%)",
        "No team",
        "Online",
        "The global agent options.",
        "<pre class=\"options\" tabindex=\"0\"",
        "&quot;distributed_interval&quot;: 10",
        "Refetch vitals",
        "Transfer to team",
        "data-confirm=\"Delete the host",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    // The intervals: set by the options, and as the host reported them.
    let intervals = page
        .body
        .split("id=\"intervals\"")
        .nth(1)
        .expect("intervals");
    assert!(
        intervals.contains("<td>10 seconds</td><td>10 seconds</td>"),
        "{intervals}"
    );
    assert!(intervals.contains("<td>60 seconds</td>"), "{intervals}");
    // The page's dashboard: the host counted, each number a link.
    let dashboard = browser.get("/").await;
    assert!(
        dashboard.body.contains("href=\"/hosts?status=online\""),
        "{}",
        dashboard.body
    );
    assert!(dashboard
        .body
        .contains("href=\"/hosts?platform=linux\">Linux: 1</a>"));
    assert!(dashboard
        .body
        .contains("href=\"/hosts?osquery_version=5.12.1\">5.12.1: 1</a>"));
    assert!(dashboard
        .body
        .contains("class=\"hint\">Online: seen in the last"));

    // Transfer to a team with its own options: the page shows those.
    f.break_glass_ok(
        "POST",
        &format!("/api/v1/fleet/teams/{team}/agent_options"),
        Some(json!({"config": {"options": {"distributed_interval": 30}}})),
    )
    .await;
    let moved = browser
        .post(
            &format!("/hosts/{id}/transfer"),
            &[("team_id", &team.to_string())],
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    assert_eq!(
        moved.location(),
        Some(format!("/hosts/{id}?notice=transferred").as_str())
    );
    let page = browser
        .get(&format!("/hosts/{id}?notice=transferred"))
        .await;
    assert!(page.body.contains("The host is moved to its new team."));
    assert!(
        page.body.contains("The agent options of team Green."),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td>30 seconds</td>"));

    // Refetch: the host is handed the detail queries at its next read.
    f.advance_secs(60);
    let fresh: HashMap<String, Value> = osquery.read().await.into_iter().collect();
    assert!(!fresh.keys().any(|k| k.starts_with("fleet_detail_query_")));
    let asked = browser.post(&format!("/hosts/{id}/refetch"), &[]).await;
    assert_eq!(
        asked.location(),
        Some(format!("/hosts/{id}?notice=refetch").as_str())
    );
    f.advance_secs(3);
    let queries = osquery.read().await;
    assert!(
        queries.keys().any(|k| k.starts_with("fleet_detail_query_")),
        "{queries:?}"
    );

    // Delete: back to the list with a notice; the host is gone.
    let deleted = browser.post(&format!("/hosts/{id}/delete"), &[]).await;
    assert_eq!(deleted.location(), Some("/hosts?notice=deleted"));
    assert_eq!(
        browser.get(&format!("/hosts/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let page = browser.get("/hosts?notice=deleted").await;
    assert!(page.body.contains("The host is deleted."));
    assert!(page.body.contains("No hosts match."));
}

/// fleetd's osquery has orbit's extension loaded: the orbit_info detail query (behind its
/// discovery query) runs there, and orbit's version shows in the API and on the host's page.
/// Plain osquery never runs it (`api.rs` checks that side).
async fn orbit_version_from_fleetd_extension(family: Family) {
    let f = Flotilla::start(family).await;
    let mut fleetd = f.client("0A6E2222-0000-0000-0000-000000000001");
    fleetd.orbit_extension = Some("1.38.0".into());
    assert_eq!(fleetd.enroll().await.status, StatusCode::OK);
    let asked = fleetd.read().await;
    assert!(
        asked.contains_key("fleet_detail_query_orbit_info"),
        "{asked:?}"
    );
    assert_eq!(fleetd.answer_details(&asked).await.status, StatusCode::OK);
    let listed = f.break_glass_ok("GET", "/api/v1/fleet/hosts", None).await;
    let id = listed["hosts"][0]["id"].as_u64().expect("the host");
    let one = f
        .break_glass_ok("GET", &format!("/api/v1/fleet/hosts/{id}"), None)
        .await;
    assert_eq!(one["host"]["orbit_version"], "1.38.0", "{one}");

    let admin = f.user(Some("admin"), &[]).await;
    let page = Browser::new(&f, Some(admin.token.clone()))
        .get(&format!("/hosts/{id}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<dd>1.38.0</dd>"),
        "orbit's version on the host page"
    );
}
