//! The admin UI's pages over 100,000 hosts in the embedded store (a fixture, not 100,000
//! enrolls), served in process by the same router as `flotilla-local`.
//!
//! `cargo bench -p flotilla-web --bench pages` prints, per page: server time (mean and slowest
//! of the timed requests, on one core), state-store calls per request (a page whose calls grow
//! with the fleet would show it), and page weight: the HTML as the server sends it gzip-compressed,
//! plus the page's stylesheet and script (also compressed; cached for a year after the first
//! page). Targets (issue 12): every page under 50 ms at any depth, the hosts page under 60 KB
//! compressed, no page doing work proportional to the number of hosts.
//! `BENCH_HOSTS=n` changes the fleet's size.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

use flotilla::adapters::counting::{CountingStore, StoreCalls};
use flotilla::adapters::embedded::EmbeddedPorts;
use flotilla::api::admin::session_cookie::SESSION_COOKIE;
use flotilla::api::Group;
use flotilla::clock::SystemClock;
use flotilla::domain::campaigns;
use flotilla::domain::host_index::fixtures::{insert_hosts, mixed_fleet};
use flotilla::domain::identity::roles::Role;
use flotilla::domain::identity::setup;
use flotilla::domain::identity::users::NewUser;
use flotilla::domain::live::Targets;
use flotilla::{App, Settings};

const BREAK_GLASS: &str = "bench-break-glass";
/// Requests timed per page, after one untimed.
const REPS: usize = 30;

struct Bench {
    router: axum::Router,
    calls: Arc<StoreCalls>,
    cookie: String,
}

struct Answer {
    status: StatusCode,
    /// The body as sent: gzip-compressed when the server compressed it.
    wire: usize,
    body: axum::body::Bytes,
}

impl Bench {
    async fn get(&self, path: &str, headers: &[(header::HeaderName, &str)]) -> Answer {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let request = request.body(Body::empty()).expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Answer {
            status,
            wire: body.len(),
            body,
        }
    }

    async fn page(&self, path: &str, gzip: bool) -> Answer {
        let cookie = format!("{SESSION_COOKIE}={}", self.cookie);
        let mut headers = vec![(header::COOKIE, cookie.as_str())];
        if gzip {
            headers.push((header::ACCEPT_ENCODING, "gzip"));
        }
        let answer = self.get(path, &headers).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
        );
        answer
    }

    async fn api(&self, path: &str) -> Value {
        let auth = format!("Bearer {BREAK_GLASS}");
        let answer = self.get(path, &[(header::AUTHORIZATION, &auth)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        serde_json::from_slice(&answer.body).expect("json")
    }

    /// Times the page uncompressed (server time is the page's work, not gzip's), then fetches
    /// it once compressed for its weight.
    async fn measure(&self, name: &str, path: &str, assets: usize) {
        self.page(path, false).await;
        let calls_before = self.calls.total();
        let mut slowest = Duration::ZERO;
        let started = Instant::now();
        for _ in 0..REPS {
            let one = Instant::now();
            self.page(path, false).await;
            slowest = slowest.max(one.elapsed());
        }
        let mean = started.elapsed() / REPS as u32;
        let calls = (self.calls.total() - calls_before) as f64 / REPS as f64;
        let compressed = self.page(path, true).await;
        println!(
            "{name:<34} {:>7.2} ms mean {:>7.2} ms max {:>6.1} store calls  {:>6.1} KB html + {:>5.1} KB css/js = {:>6.1} KB",
            mean.as_secs_f64() * 1e3,
            slowest.as_secs_f64() * 1e3,
            calls,
            compressed.wire as f64 / 1000.0,
            assets as f64 / 1000.0,
            (compressed.wire + assets) as f64 / 1000.0,
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let n: u64 = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = HashMap::from([(
        Settings::LOCAL_ADMIN_TOKEN.to_string(),
        BREAK_GLASS.to_string(),
    )]);
    let mut ports =
        EmbeddedPorts::open(dir.path(), Arc::new(SystemClock), secrets).expect("embedded ports");
    let (counting, calls) = CountingStore::new(ports.state.clone());
    ports.state = Arc::new(counting);
    let app = App::new(ports, Settings::new(Settings::LOCAL_ADMIN_TOKEN));

    let (_, session) = setup::set_up(
        &app,
        BREAK_GLASS,
        NewUser {
            name: "Bench Admin".into(),
            email: "bench@example.com".into(),
            password: Some("a long bench password 1".into()),
            global_role: Some(Role::Admin),
            teams: Vec::new(),
            api_only: false,
            sso_enabled: false,
        },
    )
    .await
    .expect("first admin");

    let started = Instant::now();
    let now = app.clock.now();
    let fleet = mixed_fleet(n as usize, now.timestamp());
    let mut ids = Vec::with_capacity(fleet.len());
    for chunk in fleet.chunks(10_000) {
        ids.extend(
            insert_hosts(app.state(), now.timestamp(), chunk)
                .await
                .expect("fixture hosts"),
        );
    }
    let campaign = campaigns::create(
        &app,
        "SELECT pid, name, path FROM processes LIMIT 3",
        Targets {
            all: true,
            ..Targets::default()
        },
        None,
    )
    .await
    .expect("campaign");
    campaigns::fixtures::insert_results(app.state(), campaign.id, 1..=n, 3, now)
        .await
        .expect("campaign results");
    println!(
        "admin pages over {n} hosts and a campaign answered by all of them (fixtures written in {:.1} s)\n",
        started.elapsed().as_secs_f64()
    );

    let bench = Bench {
        router: flotilla_web::router(app.clone(), &Group::ALL),
        calls,
        cookie: session.token.clone(),
    };

    let mut assets = 0;
    for name in ["app.css", "app.js"] {
        let url = flotilla_web::assets::url(name);
        assets += bench
            .get(&url, &[(header::ACCEPT_ENCODING, "gzip")])
            .await
            .wire;
    }

    // Half-way down the list by the API's cursor, which the page's `after` takes as it is.
    let mut cursor = String::new();
    for _ in 0..(n / 2 / 500) {
        let page = bench
            .api(&format!("/api/v1/fleet/hosts?per_page=500&after={cursor}"))
            .await;
        cursor = page["next_cursor"].as_str().unwrap_or_default().to_string();
    }
    let middle = ids[ids.len() / 2];

    bench.measure("dashboard", "/", assets).await;
    bench.measure("hosts: first page", "/hosts", assets).await;
    bench
        .measure(
            &format!("hosts: {} deep (cursor)", n / 2),
            &format!("/hosts?after={cursor}"),
            assets,
        )
        .await;
    bench
        .measure("hosts: platform=windows", "/hosts?platform=windows", assets)
        .await;
    bench
        .measure("hosts: status=online", "/hosts?status=online", assets)
        .await;
    bench
        .measure(
            "hosts: search ser0009999",
            "/hosts?query=ser0009999",
            assets,
        )
        .await;
    bench
        .measure("host", &format!("/hosts/{middle}"), assets)
        .await;
    let results = format!("/live/{}", campaign.id);
    let window = bench.page(&results, false).await;
    let rows = String::from_utf8_lossy(&window.body)
        .matches("/usr/bin/bash")
        .count();
    assert!(
        rows >= 100,
        "the campaign page shows a window of rows ({rows})"
    );
    println!(
        "  (the campaign page's window: {rows} rows, {:.1} KB uncompressed)",
        window.wire as f64 / 1000.0
    );
    bench
        .measure("live query: campaign results", &results, assets)
        .await;
    bench.measure("live query: new", "/live", assets).await;
    bench.measure("queries", "/queries", assets).await;
    bench.measure("teams", "/teams", assets).await;
    bench.measure("activity", "/activity", assets).await;
}
