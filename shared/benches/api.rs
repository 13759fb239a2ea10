//! In-process benchmark of the agent API over the embedded store.
//!
//! `cargo bench -p flotilla --bench api` prints, per request type: requests per second on one
//! core (a current-thread runtime), CPU time per request, and state-store calls per request
//! counted by `CountingStore`. Targets (issue 2): an empty distributed read makes 0 store
//! calls on a warm instance and sustains >= 50,000 requests/s per core; no request scans.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

use flotilla::adapters::counting::{CountingStore, StoreCalls};
use flotilla::adapters::embedded::EmbeddedPorts;
use flotilla::api::{router, Group};
use flotilla::clock::SystemClock;
use flotilla::domain::enroll_secrets;
use flotilla::{App, Settings};

const SECRET: &str = "bench-enroll-secret";

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn host_details(i: usize) -> Value {
    json!({
        "os_version": {"name": "Ubuntu", "version": "22.04", "platform": "ubuntu"},
        "osquery_info": {"version": "5.12.1", "instance_id": format!("inst-{i}")},
        "system_info": {"uuid": format!("BENCH-{i:08}"), "hostname": format!("host-{i}")}
    })
}

struct Bench {
    router: axum::Router,
    calls: Arc<StoreCalls>,
}

impl Bench {
    async fn call(&self, path: &str, body: Vec<u8>, gzip: bool) -> (StatusCode, Value) {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if gzip {
            request = request.header(header::CONTENT_ENCODING, "gzip");
        }
        let request = request.body(Body::from(body)).expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Like `measure`, for a GET without a body.
    async fn measure_get(&self, name: &str, budget: Duration, path: &'static str) {
        self.measure_get_as(name, budget, path, None).await
    }

    /// A GET, with `Authorization: Bearer <token>` when given.
    async fn measure_get_as(
        &self,
        name: &str,
        budget: Duration,
        path: &'static str,
        token: Option<&str>,
    ) {
        let get = |router: axum::Router| async move {
            let mut request = Request::get(path);
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let request = request.body(Body::empty()).expect("request");
            router.oneshot(request).await.expect("infallible").status()
        };
        for _ in 0..200 {
            assert_eq!(
                get(self.router.clone()).await,
                StatusCode::OK,
                "{name} warm-up"
            );
        }
        let calls_before = self.calls.total();
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let mut n = 0usize;
        while started.elapsed() < budget {
            for _ in 0..100 {
                get(self.router.clone()).await;
                n += 1;
            }
        }
        self.report(
            name,
            n,
            started.elapsed().as_secs_f64(),
            cpu_seconds() - cpu_before,
            self.calls.total() - calls_before,
        );
    }

    fn report(&self, name: &str, n: usize, wall: f64, cpu: f64, calls: u64) {
        println!(
            "{name:<28} {:>10.0} req/s  {:>8.1} µs CPU/req  {:>7.4} store calls/req  ({n} requests)",
            n as f64 / wall,
            cpu / n as f64 * 1e6,
            calls as f64 / n as f64,
        );
    }

    /// Runs `make(i)` requests for about `budget`, after a warm-up, and prints one line.
    async fn measure<F>(&self, name: &str, budget: Duration, mut make: F)
    where
        F: FnMut(usize) -> (&'static str, Vec<u8>, bool),
    {
        for i in 0..200 {
            let (path, body, gzip) = make(i);
            let (status, answer) = self.call(path, body, gzip).await;
            assert_eq!(status, StatusCode::OK, "{name} warm-up: {answer}");
        }
        let calls_before = self.calls.total();
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let mut n = 0usize;
        while started.elapsed() < budget {
            for _ in 0..100 {
                let (path, body, gzip) = make(200 + n);
                let (status, _) = self.call(path, body, gzip).await;
                debug_assert_eq!(status, StatusCode::OK);
                n += 1;
            }
        }
        self.report(
            name,
            n,
            started.elapsed().as_secs_f64(),
            cpu_seconds() - cpu_before,
            self.calls.total() - calls_before,
        );
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = HashMap::from([(Settings::LOCAL_ADMIN_TOKEN.to_string(), "t".to_string())]);
    let mut ports =
        EmbeddedPorts::open(dir.path(), Arc::new(SystemClock), secrets).expect("embedded ports");
    let (counting, calls) = CountingStore::new(ports.state.clone());
    ports.state = Arc::new(counting);
    let app = App::new(ports, Settings::new(Settings::LOCAL_ADMIN_TOKEN));
    enroll_secrets::replace(
        app.state(),
        app.clock.now(),
        None,
        vec![Some(SECRET.into())],
    )
    .await
    .expect("secret");
    let bench = Bench {
        router: router(app.clone(), &Group::ALL),
        calls,
    };
    let budget = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    // `BENCH_ONLY=hosts`: only the host listing rows (they need no agent traffic first);
    // `BENCH_ONLY=campaigns`: only the campaign rows (the fixture takes a while).
    match std::env::var("BENCH_ONLY").as_deref() {
        Ok("hosts") => {
            host_listing(&bench, &app).await;
            return;
        }
        Ok("campaigns") => {
            campaign_at_scale(&bench, &app, budget).await;
            return;
        }
        _ => {}
    }
    println!(
        "flotilla API benchmark: in-process, one core, embedded store (redb), {budget:?} per row"
    );
    println!("(the state port has no scan operation: every call counted below is a key lookup, a partition query or a write)");

    bench
        .measure("enroll", budget, |i| {
            let body = json!({"enroll_secret": SECRET, "host_identifier": format!("BENCH-{i:08}"),
                "platform_type": "9", "host_details": host_details(i)});
            ("/api/osquery/enroll", body.to_string().into_bytes(), false)
        })
        .await;

    // One enrolled host with its vitals already fresh, as in the steady state.
    let (_, answer) = bench
        .call(
            "/api/osquery/enroll",
            json!({"enroll_secret": SECRET, "host_identifier": "STEADY", "host_details": host_details(usize::MAX)})
                .to_string()
                .into_bytes(),
            false,
        )
        .await;
    let node_key = answer["node_key"].as_str().expect("node key").to_string();
    let (_, first_read) = bench
        .call(
            "/api/osquery/distributed/read",
            json!({"node_key": node_key}).to_string().into_bytes(),
            false,
        )
        .await;
    let mut answers = serde_json::Map::new();
    for name in first_read["queries"].as_object().expect("queries").keys() {
        answers.insert(
            name.clone(),
            json!([{"hostname": "steady", "version": "5.12.1"}]),
        );
    }
    bench
        .call(
            "/api/osquery/distributed/write",
            json!({"node_key": node_key, "queries": answers, "statuses": {}})
                .to_string()
                .into_bytes(),
            false,
        )
        .await;

    let key = node_key.clone();
    bench
        .measure("config", budget, move |_| {
            (
                "/api/osquery/config",
                json!({"node_key": key}).to_string().into_bytes(),
                false,
            )
        })
        .await;
    let key = node_key.clone();
    bench
        .measure("distributed/read (empty)", budget, move |_| {
            (
                "/api/osquery/distributed/read",
                json!({"node_key": key}).to_string().into_bytes(),
                false,
            )
        })
        .await;
    let key = node_key.clone();
    let write_body =
        json!({"node_key": key, "queries": {"fleet_distributed_query_999": [{"a": "1"}]},
        "statuses": {"fleet_distributed_query_999": 0}, "messages": {}})
        .to_string()
        .into_bytes();
    bench
        .measure("distributed/write", budget, move |_| {
            ("/api/osquery/distributed/write", write_body.clone(), false)
        })
        .await;
    // Orbit and Fleet Desktop (issue 3): the orbit config poll and the desktop summary.
    let (_, orbit) = bench
        .call(
            "/api/fleet/orbit/enroll",
            json!({"enroll_secret": SECRET, "hardware_uuid": "STEADY"})
                .to_string()
                .into_bytes(),
            false,
        )
        .await;
    let orbit_key = orbit["orbit_node_key"]
        .as_str()
        .expect("orbit key")
        .to_string();
    let token = "bench-device-token";
    bench
        .call(
            "/api/fleet/orbit/device_token",
            json!({"orbit_node_key": orbit_key, "device_auth_token": token})
                .to_string()
                .into_bytes(),
            false,
        )
        .await;
    let orbit_body = json!({"orbit_node_key": orbit_key})
        .to_string()
        .into_bytes();
    bench
        .measure("orbit config", budget, move |_| {
            ("/api/fleet/orbit/config", orbit_body.clone(), false)
        })
        .await;
    bench
        .measure_get(
            "desktop summary",
            budget,
            "/api/v1/fleet/device/bench-device-token/desktop",
        )
        .await;
    let lines: Vec<Value> = (0..100)
        .map(|i| json!({"name": "pack/Global/procs", "hostIdentifier": "STEADY", "calendarTime": "Mon Nov 23 09:00:00 2026 UTC",
            "unixTime": 1795424400, "epoch": 0, "counter": i, "numerics": false, "decorations": {"host_uuid": "STEADY"},
            "columns": {"pid": i.to_string(), "name": "bash", "path": "/usr/bin/bash"}, "action": "added"}))
        .collect();
    let log_body = gzip(
        json!({"node_key": node_key, "log_type": "result", "data": lines})
            .to_string()
            .as_bytes(),
    );
    bench
        .measure("log (100 lines, gzip)", budget, move |_| {
            ("/api/osquery/log", log_body.clone(), true)
        })
        .await;

    identity(&bench, &app, budget).await;

    host_listing(&bench, &app).await;
    campaign_at_scale(&bench, &app, budget).await;

    // File carving (issue 3): block requests, then assembly by the job worker.
    for (block_size, size) in [(8192, 16 << 20), (2_000_000, 256 << 20)] {
        carve(&bench, &app, &node_key, block_size, size).await;
    }
}

/// Admin identity (issue 11): the password hash, login, a request with a session against the
/// same request with the break-glass token (the difference is the session check), and the
/// permission check itself.
async fn identity(bench: &Bench, app: &App, budget: Duration) {
    use flotilla::domain::identity::passwords;
    use flotilla::domain::identity::roles::{Permission, Role, Roles, Scope};

    let rounds = 20;
    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    for _ in 0..rounds {
        std::hint::black_box(passwords::hash("bench password 1!").expect("hash"));
    }
    let per_hash = started.elapsed().as_secs_f64() / rounds as f64 * 1e3;
    let cpu_per_hash = (cpu_seconds() - cpu_before) / rounds as f64 * 1e3;
    // Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
    let lambda_ms = cpu_per_hash * 1769.0 / 512.0;
    println!(
        "argon2id (m={} KiB, t={}, p={})  {per_hash:>6.1} ms/hash here ({cpu_per_hash:.1} ms CPU), ~{lambda_ms:.0} ms on the 512 MB admin Lambda",
        passwords::MEMORY_KIB,
        passwords::PASSES,
        passwords::LANES,
    );

    let admin = json!({"admin": {"email": "bench@example.com", "name": "Bench", "password": "bench password 1!",
        "password_confirmation": "bench password 1!"}});
    let request = Request::post("/api/v1/setup")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer t")
        .body(Body::from(admin.to_string()))
        .expect("request");
    let response = bench
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK, "setup");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let answer: Value = serde_json::from_slice(&body).expect("json");
    let session = answer["token"].as_str().expect("token").to_string();

    let login = json!({"email": "bench@example.com", "password": "bench password 1!"})
        .to_string()
        .into_bytes();
    // Logins are slow by design: a shorter budget gives enough of them.
    bench
        .measure("login (argon2id verify)", budget / 3, move |_| {
            ("/api/v1/fleet/login", login.clone(), false)
        })
        .await;
    bench
        .measure_get_as(
            "admin GET config, token",
            budget,
            "/api/v1/fleet/config",
            Some("t"),
        )
        .await;
    bench
        .measure_get_as(
            "admin GET config, session",
            budget,
            "/api/v1/fleet/config",
            Some(session.as_str()),
        )
        .await;
    let _ = app;

    let team_role = Roles {
        global: None,
        teams: (1..=20).map(|team| (team, Role::Maintainer)).collect(),
    };
    let checks = 10_000_000u64;
    let started = Instant::now();
    let mut allowed = 0u64;
    for i in 0..checks {
        let scope = Scope::Team(i % 25);
        allowed += u64::from(std::hint::black_box(&team_role).can(Permission::WriteQueries, scope));
    }
    println!(
        "permission check (20 team roles) {:>8.1} ns/check  ({allowed} of {checks} allowed)",
        started.elapsed().as_secs_f64() / checks as f64 * 1e9,
    );
}

/// Carves `size` bytes in blocks of `block_size` and prints the block path's and the
/// assembly's throughput. Only the server's work is timed (building each request is not).
async fn carve(bench: &Bench, app: &App, node_key: &str, block_size: usize, size: usize) {
    use base64::Engine;
    let blocks = size.div_ceil(block_size);
    let (status, begun) = bench
        .call(
            "/api/osquery/carve/begin",
            json!({"node_key": node_key, "block_count": blocks, "block_size": block_size,
                   "carve_size": size, "carve_id": "bench", "request_id": ""})
            .to_string()
            .into_bytes(),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    let session = begun["session_id"].as_str().expect("session");
    let block: Vec<u8> = (0..block_size).map(|i| (i * 31 % 251) as u8).collect();
    let (mut wall, mut cpu) = (0.0, 0.0);
    let calls_before = bench.calls.total();
    for block_id in 0..blocks {
        let len = block_size.min(size - block_id * block_size);
        let body = json!({"block_id": block_id, "session_id": session, "request_id": "",
            "data": base64::engine::general_purpose::STANDARD.encode(&block[..len])})
        .to_string()
        .into_bytes();
        let (cpu_before, started) = (cpu_seconds(), Instant::now());
        let (status, answer) = bench.call("/api/osquery/carve/block", body, false).await;
        wall += started.elapsed().as_secs_f64();
        cpu += cpu_seconds() - cpu_before;
        assert_eq!(status, StatusCode::OK, "block {block_id}: {answer}");
    }
    let calls = bench.calls.total() - calls_before;
    let mb = size as f64 / 1e6;
    println!(
        "carve blocks of {block_size:>7} B {:>10.0} req/s  {:>8.1} µs CPU/req  {:>7.4} store calls/req  {:>6.0} MB/s  ({blocks} blocks, {} MiB)",
        blocks as f64 / wall,
        cpu / blocks as f64 * 1e6,
        calls as f64 / blocks as f64,
        mb / wall,
        size >> 20,
    );
    let (cpu_before, started) = (cpu_seconds(), Instant::now());
    let jobs = flotilla::jobs::worker::drain(app).await.expect("jobs");
    let wall = started.elapsed().as_secs_f64();
    println!(
        "  assembly by the worker    {:>6.0} MB/s  {:>8.1} ms CPU/part  ({jobs} parts)",
        mb / wall,
        (cpu_seconds() - cpu_before) / jobs as f64 * 1e3,
    );
}

/// Host listing, counts and summary over 100,000 hosts (`BENCH_HOSTS`): made by the fixture
/// (the items enrollment writes), then each request timed on its own: server time and store
/// calls per request. None of them may grow with the fleet.
async fn host_listing(bench: &Bench, app: &App) {
    use flotilla::domain::host_index::fixtures::{insert_hosts, mixed_fleet};

    let n: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let now = app.clock.now().timestamp();
    let started = Instant::now();
    let hosts = mixed_fleet(n, now);
    for chunk in hosts.chunks(10_000) {
        insert_hosts(app.state(), now, chunk)
            .await
            .expect("fixture hosts");
    }
    println!(
        "\nhost listing over {n} hosts (fixture written in {:.1} s); per request: server time, store calls",
        started.elapsed().as_secs_f64()
    );
    let get = |path: String| async move {
        let request = Request::get(path.as_str())
            .header(header::AUTHORIZATION, "Bearer t")
            .body(Body::empty())
            .expect("request");
        let response = bench
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
        bytes
    };
    let timed = |name: &'static str, path: String, reps: usize| {
        let get = &get;
        async move {
            get(path.clone()).await;
            let calls_before = bench.calls.total();
            let started = Instant::now();
            let mut body = bytes::Bytes::new();
            for _ in 0..reps {
                body = get(path.clone()).await;
            }
            println!(
                "{name:<40} {:>9.2} ms/req  {:>7.1} store calls/req",
                started.elapsed().as_secs_f64() * 1e3 / reps as f64,
                (bench.calls.total() - calls_before) as f64 / reps as f64,
            );
            body
        }
    };
    timed("host_summary", "/api/v1/fleet/host_summary".into(), 50).await;
    timed("hosts: first page (100)", "/api/v1/fleet/hosts".into(), 50).await;
    timed(
        "hosts: first page by host name",
        "/api/v1/fleet/hosts?order_key=hostname".into(),
        50,
    )
    .await;
    timed(
        "hosts: first page by last seen, desc",
        "/api/v1/fleet/hosts?order_key=last_seen&order_direction=desc".into(),
        50,
    )
    .await;
    // 50,000 deep: follow the cursor there, then time the page it points at.
    let mut cursor = String::new();
    for _ in 0..(n / 2 / 500) {
        let body = get(format!("/api/v1/fleet/hosts?per_page=500&after={cursor}")).await;
        let page: Value = serde_json::from_slice(&body).expect("json");
        cursor = page["next_cursor"].as_str().unwrap_or_default().to_string();
    }
    timed(
        "hosts: page 50,000 deep (cursor)",
        format!("/api/v1/fleet/hosts?after={cursor}"),
        50,
    )
    .await;
    timed(
        "hosts: platform=windows (10%)",
        "/api/v1/fleet/hosts?platform=windows".into(),
        20,
    )
    .await;
    timed(
        "hosts: status=online",
        "/api/v1/fleet/hosts?status=online".into(),
        20,
    )
    .await;
    timed(
        "hosts: search query=ser0009999",
        "/api/v1/fleet/hosts?query=ser0009999".into(),
        20,
    )
    .await;
    timed(
        "hosts/count (counters)",
        "/api/v1/fleet/hosts/count?platform=windows".into(),
        50,
    )
    .await;
    timed(
        "hosts/count?status=online",
        "/api/v1/fleet/hosts/count?status=online".into(),
        50,
    )
    .await;
    timed(
        "hosts/count?query= (bounded estimate)",
        "/api/v1/fleet/hosts/count?query=host-0001".into(),
        5,
    )
    .await;
    let csv = timed(
        "hosts/report csv, platform=windows",
        "/api/v1/fleet/hosts/report?format=csv&platform=windows".into(),
        2,
    )
    .await;
    println!(
        "  (the report: {} rows)",
        csv.iter().filter(|b| **b == b'\n').count() - 1
    );
}

fn max_rss_mib() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

/// A campaign with 100,000 host results (written as a fixture, not 100,000 HTTP writes): the
/// first results page and one deep by cursor, the campaign with its counters, and the export.
async fn campaign_at_scale(bench: &Bench, app: &App, budget: Duration) {
    use base64::Engine;
    use flotilla::domain::campaign_export::{self, ExportFormat};
    use flotilla::domain::campaigns;
    use flotilla::domain::identity::roles::TeamFilter;
    use flotilla::domain::live::Targets;

    const HOSTS: u64 = 100_000;
    let campaign = campaigns::create(
        app,
        "SELECT pid, name, path FROM processes LIMIT 3",
        Targets {
            all: true,
            ..Targets::default()
        },
        None,
    )
    .await
    .expect("campaign");
    let now = app.clock.now();
    let started = Instant::now();
    campaigns::fixtures::insert_results(app.state(), campaign.id, 1..=HOSTS, 3, now)
        .await
        .expect("fixture");
    println!(
        "campaign fixture: {HOSTS} results (3 rows each) written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let id = campaign.id;
    let first: &'static str =
        Box::leak(format!("/api/v1/fleet/campaigns/{id}/results?per_page=1000").into_boxed_str());
    bench
        .measure_get_as("campaign results, page 1", budget, first, Some("t"))
        .await;
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("r:90000");
    let deep: &'static str = Box::leak(
        format!("/api/v1/fleet/campaigns/{id}/results?per_page=1000&after={cursor}")
            .into_boxed_str(),
    );
    bench
        .measure_get_as("campaign results, page 91", budget, deep, Some("t"))
        .await;
    let one: &'static str = Box::leak(format!("/api/v1/fleet/campaigns/{id}").into_boxed_str());
    bench
        .measure_get_as("campaign with counts", budget, one, Some("t"))
        .await;

    for format in [ExportFormat::Csv, ExportFormat::Ndjson] {
        let rss_before = max_rss_mib();
        let calls_before = bench.calls.total();
        let started = Instant::now();
        let export = campaign_export::request(app, &campaign, format, &TeamFilter::All, None)
            .await
            .expect("export request");
        flotilla::jobs::worker::drain(app).await.expect("jobs");
        let wall = started.elapsed().as_secs_f64();
        let done = campaign_export::get(app, id, format, &TeamFilter::All)
            .await
            .expect("export")
            .expect("export item");
        assert_eq!(done.rows, HOSTS * 3, "{:?}", export.state);
        println!(
            "campaign export ({:<6})     {wall:>6.2} s for {} rows, {:.1} MB  {} store calls  peak RSS {:.0} -> {:.0} MiB",
            format.as_str(),
            done.rows,
            done.size as f64 / 1e6,
            bench.calls.total() - calls_before,
            rss_before,
            max_rss_mib(),
        );
    }
}
