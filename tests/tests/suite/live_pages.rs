//! The Live query pages driven like a user on both adapter families: a query run from the
//! page against enrolled test hosts, their answers on the campaign's page (counts, a window
//! of rows paged by cursor to every row exactly once, errors), stop, CSV and NDJSON exports;
//! team users kept to their teams (404 for another team's campaign, 403 for its hosts) and
//! observers to the saved queries marked for them.

use std::collections::BTreeSet;

use flotilla_tests::harness::{Family, Flotilla};
use flotilla_tests::osquery_client::OsqueryClient;
use flotilla_tests::page_client::{Browser, Page};
use reqwest::StatusCode;
use serde_json::{json, Value};

flotilla_tests::both!(
    run_answer_page_and_export,
    teams_and_observers_are_kept_to_their_own
);

async fn team(f: &Flotilla, name: &str) -> (u64, String) {
    let id = f
        .break_glass_ok("POST", "/api/v1/fleet/teams", Some(json!({ "name": name })))
        .await["team"]["id"]
        .as_u64()
        .expect("team id");
    let secret = format!("{name}-live-secret");
    f.break_glass_ok(
        "PATCH",
        &format!("/api/v1/fleet/teams/{id}/secrets"),
        Some(json!({"secrets": [{"secret": secret}]})),
    )
    .await;
    (id, secret)
}

async fn host_id(f: &Flotilla, uuid: &str) -> u64 {
    f.break_glass_ok("GET", "/api/v1/fleet/hosts?per_page=500", None)
        .await["hosts"]
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

async fn enrolled(
    f: &Flotilla,
    secret: &str,
    uuid: &str,
    platform: &'static str,
) -> (OsqueryClient, u64) {
    let mut host = OsqueryClient::new(&f.base, secret, uuid);
    host.platform = platform;
    assert_eq!(host.enroll().await.status, StatusCode::OK);
    let id = host_id(f, uuid).await;
    (host, id)
}

/// The campaign id a run's redirect names.
fn campaign_of(page: &Page) -> u64 {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    page.location()
        .and_then(|l| l.strip_prefix("/live/"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a campaign's page: {:?}", page.location()))
}

/// Hands the campaign's query to the host and sends its answer.
async fn answer(host: &mut OsqueryClient, campaign: u64, rows: Value, error: Option<&str>) {
    let name = format!("fleet_distributed_query_{campaign}");
    assert!(host.read().await.contains_key(&name), "the host is asked");
    let wrote = match error {
        None => {
            host.write(json!({ &name: rows }), json!({ &name: 0 }), json!({}))
                .await
        }
        Some(message) => {
            host.write(
                json!({ &name: "" }),
                json!({ &name: 1 }),
                json!({ &name: message }),
            )
            .await
        }
    };
    assert_eq!(wrote.status, StatusCode::OK, "{}", wrote.body);
}

/// The text of the `<td>` cells of a page.
fn cells(body: &str) -> Vec<String> {
    body.split("<td>")
        .skip(1)
        .filter_map(|rest| rest.split("</td>").next())
        .map(str::to_string)
        .collect()
}

/// The "Next rows" link of a campaign page, unescaped.
fn next_rows(body: &str) -> Option<String> {
    let end = body.find("\">Next rows</a>")?;
    let start = body[..end].rfind("href=\"")? + "href=\"".len();
    Some(body[start..end].replace("&amp;", "&"))
}

/// An export downloaded with the session cookie, as the page's link does.
async fn download(f: &Flotilla, family: Family, session: &str, path: &str) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}{path}", f.base))
        .header("cookie", format!("__Host-flotilla_session={session}"))
        .send()
        .await
        .expect("download");
    match family {
        Family::Embedded => {
            assert_eq!(response.status(), StatusCode::OK);
            response.text().await.expect("text")
        }
        Family::Moto => {
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let to = response.headers()["location"]
                .to_str()
                .expect("location")
                .to_string();
            reqwest::get(&to)
                .await
                .expect("presigned GET")
                .text()
                .await
                .expect("text")
        }
    }
}

async fn run_answer_page_and_export(family: Family) {
    let f = Flotilla::start(family).await;
    let (blue, secret) = team(&f, "Blue").await;
    let (mut a, a_id) = enrolled(
        &f,
        &secret,
        "11AE0000-0000-0000-0000-00000000000a",
        "ubuntu",
    )
    .await;
    let (mut b, _) = enrolled(
        &f,
        &secret,
        "11AE0000-0000-0000-0000-00000000000b",
        "darwin",
    )
    .await;
    let (mut c, _) = enrolled(
        &f,
        &secret,
        "11AE0000-0000-0000-0000-00000000000c",
        "ubuntu",
    )
    .await;
    let (_silent, _) = enrolled(
        &f,
        &f.enroll_secret.clone(),
        "11AE0000-0000-0000-0000-00000000000d",
        "ubuntu",
    )
    .await;

    let admin = f.user(Some("admin"), &[]).await;
    let browser = Browser::new(&f, Some(admin.token.clone()));
    let form = browser.get("/live").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(
        form.body.contains("data-draft=\"live-sql\""),
        "{}",
        form.body
    );
    assert!(form.body.contains(&format!("name=\"team_{blue}\"")));
    assert!(form.body.contains("name=\"platform_darwin\""));
    assert!(
        form.body.contains("href=\"/live\" aria-current=\"page\""),
        "the navigation marks it"
    );
    // A host search lists matching hosts to check.
    let found = browser.get("/live?host_search=host-11ae0000").await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        found.body.contains(&format!("name=\"host_{a_id}\"")),
        "{}",
        found.body
    );
    let carried = browser
        .get(&format!("/live?host_search=nothing-matches&hosts={a_id}"))
        .await;
    assert!(carried
        .body
        .contains(&format!("name=\"host_{a_id}\" type=\"checkbox\" checked")));
    assert!(carried.body.contains("No host matches"));

    // A platform alone: every host the viewer may query on it, kept as a platform (a host
    // that enrolls later is asked too), counted from the counters.
    let darwin = campaign_of(
        &browser
            .post("/live", &[("query", "SELECT 1"), ("platform_darwin", "on")])
            .await,
    );
    let got = f
        .break_glass_ok("GET", &format!("/api/v1/fleet/campaigns/{darwin}"), None)
        .await;
    assert_eq!(got["campaign"]["targeted"], 1, "{got}");
    assert_eq!(
        got["campaign"]["selected"]["platforms"],
        json!(["darwin"]),
        "{got}"
    );
    assert_eq!(got["campaign"]["selected"]["all"], true, "{got}");
    assert_eq!(got["campaign"]["selected"]["hosts"], json!([]), "{got}");
    browser.post(&format!("/live/{darwin}/stop"), &[]).await;

    let run = browser
        .post("/live", &[("query", "SELECT * FROM things"), ("all", "on")])
        .await;
    let id = campaign_of(&run);
    // A has more rows than one window, B a few (one hostile, one long), C fails, D never asks.
    let a_rows: Vec<Value> = (0..230)
        .map(|n| json!({"v": format!("row-a-{n}")}))
        .collect();
    answer(&mut a, id, Value::Array(a_rows), None).await;
    let long = "x".repeat(1000);
    answer(
        &mut b,
        id,
        json!([{"v": "row-b-0", "w": "<script>alert(1)</script>"}, {"v": "row-b-1", "w": long}, {"v": "row-b-2"}]),
        None,
    )
    .await;
    answer(&mut c, id, Value::Null, Some("no such table: things")).await;

    let page = browser.get(&format!("/live/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("SELECT * FROM things"));
    assert!(page.body.contains(&admin.email), "who ran it");
    assert!(page.body.contains("Running"));
    for (n, label) in [
        (4, "Targeted"),
        (3, "Asked"),
        (2, "Answered"),
        (1, "Errors"),
        (1, "Not seen since it began"),
        (233, "Rows"),
    ] {
        assert!(
            page.body
                .contains(&format!("<span class=\"count\">{n}</span> {label}")),
            "{label} {n}: {}",
            page.body
        );
    }
    assert!(page
        .body
        .contains(&format!("data-refresh=\"/live/{id}/progress?\"")));
    let fragment = browser.get(&format!("/live/{id}/progress")).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(fragment.body.starts_with("<div>"), "{}", fragment.body);
    assert!(fragment.body.contains("row-a-0"));

    // Every row exactly once, a window at a time.
    let mut seen = Vec::new();
    let mut path = format!("/live/{id}");
    let mut hostile_escaped = false;
    let mut cut = false;
    for _ in 0..20 {
        let window = browser.get(&path).await;
        assert_eq!(window.status, StatusCode::OK, "{path}: {}", window.body);
        let rows: Vec<String> = cells(&window.body)
            .into_iter()
            .filter(|c| c.starts_with("row-"))
            .collect();
        assert!(rows.len() <= 100, "{path}: {} rows", rows.len());
        seen.extend(rows);
        hostile_escaped |= window
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;");
        cut |= window.body.contains("(cut: 1000 characters");
        assert!(!window.body.contains("<script>alert(1)"));
        match next_rows(&window.body) {
            Some(next) => path = next.trim_end_matches("#results").to_string(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..230)
        .map(|n| format!("row-a-{n}"))
        .chain((0..3).map(|n| format!("row-b-{n}")))
        .collect();
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    assert_eq!(
        unique,
        expected.iter().collect::<BTreeSet<_>>(),
        "every row"
    );
    assert!(hostile_escaped && cut);
    assert_eq!(
        browser.get(&format!("/live/{id}?after=junk")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        browser.get(&format!("/live/{id}?skip=1")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        browser.get(&format!("/live/{id}?rows=all")).await.status,
        StatusCode::BAD_REQUEST
    );

    // The errors tab.
    let errors = browser.get(&format!("/live/{id}/errors")).await;
    assert_eq!(errors.status, StatusCode::OK);
    assert!(errors.body.contains("no such table: things"));
    assert!(errors.body.contains(&c.hostname));
    assert!(errors
        .body
        .contains(&format!("href=\"/live/{id}/errors\" aria-current=\"page\"")));

    // Exports hold every row.
    for format in ["csv", "ndjson"] {
        let asked = browser
            .post(&format!("/live/{id}/export"), &[("format", format)])
            .await;
        assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    }
    assert_eq!(
        browser
            .post(&format!("/live/{id}/export"), &[("format", "xml")])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    f.run_jobs().await;
    let page = browser.get(&format!("/live/{id}")).await;
    for format in ["csv", "ndjson"] {
        let link = format!("/api/v1/fleet/campaigns/{id}/export/download?format={format}");
        assert!(
            page.body.contains(&format!("href=\"{link}\"")),
            "{}",
            page.body
        );
        let text = download(&f, family, &admin.token, &link).await;
        let lines: Vec<&str> = text.lines().collect();
        let header = usize::from(format == "csv");
        assert_eq!(lines.len(), header + 233, "{format}");
        for value in &expected {
            assert!(
                text.contains(&format!("{value},")) || text.contains(&format!("\"{value}\"")),
                "{format}: {value}"
            );
        }
        assert!(text.contains(&long), "the export has the long cell whole");
    }

    // Stop: refused to who may not, then done by its runner.
    let (observer_plus, observer) = (
        f.user(None, &[(blue, "observer_plus")]).await,
        f.user(Some("observer"), &[]).await,
    );
    for user in [&observer_plus, &observer] {
        let other = Browser::new(&f, Some(user.token.clone()));
        let page = other.get(&format!("/live/{id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains(&format!("action=\"/live/{id}/stop\"")));
        assert_eq!(
            other.post(&format!("/live/{id}/stop"), &[]).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let page = browser.get(&format!("/live/{id}")).await;
    assert!(page.body.contains(&format!("action=\"/live/{id}/stop\"")));
    let stopped = browser.post(&format!("/live/{id}/stop"), &[]).await;
    assert_eq!(stopped.status, StatusCode::SEE_OTHER);
    let page = browser.get(&format!("/live/{id}?notice=stopped")).await;
    assert!(page.body.contains("Stopped"));
    assert!(page.body.contains("data-done"));
    assert!(!page.body.contains(&format!("action=\"/live/{id}/stop\"")));

    // The recent campaigns list links to it.
    let list = browser.get("/live").await;
    assert!(list.body.contains(&format!("href=\"/live/{id}\"")));
}

async fn teams_and_observers_are_kept_to_their_own(family: Family) {
    let f = Flotilla::start(family).await;
    let (blue, blue_secret) = team(&f, "Blue").await;
    let (red, red_secret) = team(&f, "Red").await;
    let (_blue_host, blue_host) = enrolled(
        &f,
        &blue_secret,
        "22AE0000-0000-0000-0000-00000000000a",
        "ubuntu",
    )
    .await;
    let (_red_host, red_host) = enrolled(
        &f,
        &red_secret,
        "22AE0000-0000-0000-0000-00000000000b",
        "ubuntu",
    )
    .await;

    let admin = Browser::new(&f, Some(f.user(Some("admin"), &[]).await.token));
    let red_run = campaign_of(
        &admin
            .post(
                "/live",
                &[("query", "SELECT 'red'"), (&format!("team_{red}"), "on")],
            )
            .await,
    );

    // A team maintainer: another team's campaign is not there; its team and hosts are refused.
    let maintainer = Browser::new(&f, Some(f.user(None, &[(blue, "maintainer")]).await.token));
    for path in [
        format!("/live/{red_run}"),
        format!("/live/{red_run}/progress"),
        format!("/live/{red_run}/errors"),
    ] {
        let page = maintainer.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("SELECT &#39;red&#39;") && !page.body.contains("SELECT 'red'"));
    }
    for path in [
        format!("/live/{red_run}/stop"),
        format!("/live/{red_run}/export"),
    ] {
        let page = maintainer.post(&path, &[("format", "csv")]).await;
        assert!(
            page.status == StatusCode::NOT_FOUND || page.status == StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.status
        );
    }
    let stop = maintainer.post(&format!("/live/{red_run}/stop"), &[]).await;
    assert_eq!(stop.status, StatusCode::NOT_FOUND);
    let form = maintainer.get("/live").await;
    assert!(form.body.contains(&format!("name=\"team_{blue}\"")));
    assert!(!form.body.contains(&format!("name=\"team_{red}\"")));
    assert!(!form.body.contains(&format!("href=\"/live/{red_run}\"")));
    let found = maintainer.get("/live?host_search=host-22ae0000").await;
    assert!(!found.body.contains(&format!("name=\"host_{red_host}\"")));
    for field in [format!("team_{red}"), format!("host_{red_host}")] {
        let page = maintainer
            .post("/live", &[("query", "SELECT 1"), (&field, "on")])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{field}");
    }
    // "All hosts" is all of its teams'.
    let mine = campaign_of(
        &maintainer
            .post("/live", &[("query", "SELECT 2"), ("all", "on")])
            .await,
    );
    let got = f
        .break_glass_ok("GET", &format!("/api/v1/fleet/campaigns/{mine}"), None)
        .await;
    assert_eq!(got["campaign"]["selected"]["teams"], json!([blue]), "{got}");
    assert_eq!(got["campaign"]["selected"]["all"], false);
    // A platform is its hosts in the maintainer's teams only.
    let linux = campaign_of(
        &maintainer
            .post("/live", &[("query", "SELECT 4"), ("platform_linux", "on")])
            .await,
    );
    let got = f
        .break_glass_ok("GET", &format!("/api/v1/fleet/campaigns/{linux}"), None)
        .await;
    assert_eq!(got["campaign"]["selected"]["teams"], json!([blue]), "{got}");
    assert_eq!(got["campaign"]["selected"]["all"], false, "{got}");
    assert_eq!(
        got["campaign"]["selected"]["platforms"],
        json!(["linux"]),
        "{got}"
    );
    assert_eq!(got["campaign"]["targeted"], 1, "{got}");
    let _ = blue_host;
    // Junk is refused, and so is a run without targets (sent back with the message).
    assert_eq!(
        maintainer.get("/live?bogus=1").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        maintainer
            .post("/live", &[("query", "SELECT 1"), ("bogus", "1")])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let empty = maintainer.post("/live", &[("query", "SELECT 3")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("role=\"alert\""));
    assert!(empty.body.contains("SELECT 3"), "what was typed comes back");

    // An observer: no editor, forged runs refused; saved queries marked for observers run
    // with their SQL, others not.
    let for_observers = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "observers may", "query": "SELECT 'saved'", "observer_can_run": true})),
        )
        .await["query"]["id"]
        .as_u64()
        .expect("id");
    let not_for_observers = f
        .break_glass_ok(
            "POST",
            "/api/v1/fleet/queries",
            Some(json!({"name": "observers may not", "query": "SELECT 'not'"})),
        )
        .await["query"]["id"]
        .as_u64()
        .expect("id");
    let observer = Browser::new(&f, Some(f.user(Some("observer"), &[]).await.token));
    let page = observer.get("/live").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<textarea"));
    assert!(!page.body.contains("method=\"post\" action=\"/live\""));
    let forged = observer
        .post("/live", &[("query", "SELECT 1"), ("all", "on")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let page = observer
        .get(&format!("/live?query_id={for_observers}"))
        .await;
    assert!(page.body.contains("method=\"post\" action=\"/live\""));
    assert!(page
        .body
        .contains(&format!("name=\"query_id\" value=\"{for_observers}\"")));
    assert!(!page.body.contains("<textarea"), "read-only SQL");
    let ran = campaign_of(
        &observer
            .post(
                "/live",
                &[
                    ("query_id", &for_observers.to_string()),
                    ("query", "SELECT 'smuggled'"),
                    ("all", "on"),
                ],
            )
            .await,
    );
    let got = f
        .break_glass_ok("GET", &format!("/api/v1/fleet/campaigns/{ran}"), None)
        .await;
    assert_eq!(got["campaign"]["query"], "SELECT 'saved'");
    let page = observer
        .get(&format!("/live?query_id={not_for_observers}"))
        .await;
    assert!(!page.body.contains("method=\"post\" action=\"/live\""));
    let refused = observer
        .post(
            "/live",
            &[("query_id", &not_for_observers.to_string()), ("all", "on")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
