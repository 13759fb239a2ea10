//! The packager service end to end, as flotilla-local runs it (embedded adapters, every route on
//! one router, the local job worker), from `POST /create` until `GET /status` answers success,
//! per installer type. The target: at most 3 s with a warm target cache.
//!
//!   cargo bench -p flotilla-local --bench packager
//!
//! The targets come from a real TUF repository on loopback, with realistic sizes of random
//! (incompressible) bytes, distinct per platform. For each type: one cold build (the target
//! cache emptied first), then warm builds, each with another enroll secret so that dedupe
//! does not answer an earlier package. The update metadata is loaded once per process, by the
//! first build (deb's cold one), as a warm instance keeps it.

#[path = "../../../agent/tests/common/server.rs"]
#[allow(dead_code)]
mod server;
#[path = "../../../agent/tests/common/tuf.rs"]
#[allow(dead_code)]
mod tuf;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flotilla::adapters::embedded::EmbeddedPorts;
use flotilla::api::{router, Group};
use flotilla::clock::SystemClock;
use flotilla::domain::credentials::random_secret;
use flotilla::domain::packages::targets::CACHE_PREFIX;
use flotilla::{App, PackagerSettings, Settings};
use server::FileServer;
use tuf::{in_days, Published, TufRepo};

const ORBIT_MB: usize = 15;
const OSQUERYD_MB: usize = 25;
const WARM_RUNS: usize = 3;
const POLL: Duration = Duration::from_millis(20);
const GIVE_UP: Duration = Duration::from_secs(120);
const TYPES: [&str; 4] = ["deb", "rpm", "pkg", "msi"];

/// `mb` MB of xorshift64* output: incompressible, and different for each seed.
fn random_bytes(mb: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut out = vec![0u8; mb << 20];
    for word in out.chunks_exact_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        word.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out
}

/// osquery.app as the repository ships it for macOS: a gzipped tar of the bundle.
fn osquery_app(osqueryd: &[u8]) -> Vec<u8> {
    tuf::tar_gz(&[
        ("osquery.app/Contents/Info.plist", &b"<plist/>"[..]),
        ("osquery.app/Contents/MacOS/osqueryd", osqueryd),
    ])
}

struct Repository {
    repo: TufRepo,
    server: FileServer,
    targets: Vec<String>,
}

async fn repository() -> Repository {
    let repo = TufRepo::new().await;
    let orbit = |seed| random_bytes(ORBIT_MB, seed);
    let osqueryd = |seed| random_bytes(OSQUERYD_MB, seed);
    let published: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("orbit/linux/stable/orbit", orbit(1), Some("1.38.0")),
        ("osqueryd/linux/stable/osqueryd", osqueryd(2), None),
        ("orbit/macos/stable/orbit", orbit(3), Some("1.38.0")),
        (
            "osqueryd/macos-app/stable/osqueryd.app.tar.gz",
            osquery_app(&osqueryd(4)),
            None,
        ),
        ("orbit/windows/stable/orbit.exe", orbit(5), Some("1.38.0")),
        ("osqueryd/windows/stable/osqueryd.exe", osqueryd(6), None),
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
    let targets = published
        .iter()
        .map(|(name, _, _)| format!("targets/{name}"))
        .collect();
    Repository {
        repo,
        server,
        targets,
    }
}

impl Repository {
    /// Target files served so far (metadata not counted).
    fn target_downloads(&self) -> usize {
        self.targets.iter().map(|t| self.server.hits(t)).sum()
    }
}

/// Flotilla as `flotilla-local` serves it: the embedded adapters in `data_dir`, every route,
/// the job worker in the background. Answers the base URL.
async fn flotilla(data_dir: &Path) -> (String, App) {
    let secrets = HashMap::from([
        (Settings::LOCAL_ADMIN_TOKEN.to_string(), random_secret()),
        (PackagerSettings::LOCAL_KEY.to_string(), random_secret()),
    ]);
    let ports =
        EmbeddedPorts::open(data_dir, Arc::new(SystemClock), secrets).expect("embedded ports");
    let app = App::new(ports, Settings::new(Settings::LOCAL_ADMIN_TOKEN));
    tokio::spawn(flotilla::jobs::worker::run(app.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let routes = router(app.clone(), &Group::ALL);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            routes.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    (base, app)
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn json(&self, request: reqwest::RequestBuilder) -> (reqwest::StatusCode, Value) {
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.expect("JSON answer"))
    }

    /// From `POST /create` until the status is success: the package id and the time taken.
    async fn create_to_success(&self, body: &Value) -> (String, Duration) {
        let start = Instant::now();
        let (status, answer) = self
            .json(self.http.post(format!("{}/create", self.base)).json(body))
            .await;
        assert!(status.is_success(), "create: {status} {answer}");
        let id = answer["package_id"]
            .as_str()
            .expect("package_id")
            .to_owned();
        let url = format!("{}/status?package_id={id}", self.base);
        loop {
            let (status, answer) = self.json(self.http.get(&url)).await;
            match (status.as_u16(), answer["status"].as_str()) {
                (200, Some("success")) => return (id, start.elapsed()),
                (200, Some("in-progress")) => tokio::time::sleep(POLL).await,
                // Polled faster than clients do: the per-package limit. Not expected here.
                (429, _) => tokio::time::sleep(Duration::from_secs(1)).await,
                _ => panic!("package {id}: {status} {answer}"),
            }
            assert!(start.elapsed() < GIVE_UP, "package {id} not built");
        }
    }

    async fn size(&self, id: &str) -> usize {
        let response = self
            .http
            .get(format!("{}/download/{id}", self.base))
            .send()
            .await
            .expect("download");
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.expect("installer").len()
    }
}

fn request(kind: &str, secret: &str, repository: &Repository) -> Value {
    json!({
        "type": kind,
        "fleet_url": "https://fleet.example.com",
        "enroll_secret": secret,
        "update_url": repository.server.url,
        "update_roots": String::from_utf8_lossy(&repository.repo.root_json),
    })
}

async fn empty_target_cache(app: &App) {
    let blobs = &app.ports.blobs;
    let cached = blobs.list(CACHE_PREFIX).await.expect("list cache");
    blobs.delete_many(&cached).await.expect("empty cache");
}

struct Row {
    kind: &'static str,
    cold: Duration,
    cold_downloads: usize,
    warm: Vec<Duration>,
    warm_downloads: usize,
    size: usize,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let setup = Instant::now();
    let repository = repository().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let (base, app) = flotilla(data_dir.path()).await;
    let client = Client {
        http: reqwest::Client::new(),
        base,
    };
    println!(
        "targets per platform: orbit {ORBIT_MB} MB, osqueryd {OSQUERYD_MB} MB (macOS: in \
         osqueryd.app.tar.gz), random bytes; served over loopback TUF ({:.1} s to set up)\n",
        setup.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    for kind in TYPES {
        empty_target_cache(&app).await;
        let before = repository.target_downloads();
        let (id, cold) = client
            .create_to_success(&request(kind, &format!("bench-{kind}-cold"), &repository))
            .await;
        let cold_downloads = repository.target_downloads() - before;
        let size = client.size(&id).await;

        let before = repository.target_downloads();
        let mut warm = Vec::new();
        for run in 0..WARM_RUNS {
            let secret = format!("bench-{kind}-warm-{run}");
            let (other, time) = client
                .create_to_success(&request(kind, &secret, &repository))
                .await;
            assert_ne!(other, id, "a new package, not a deduplicated one");
            warm.push(time);
        }
        rows.push(Row {
            kind,
            cold,
            cold_downloads,
            warm,
            warm_downloads: repository.target_downloads() - before,
            size,
        });
    }

    let secs = |d: &Duration| format!("{:.2}", d.as_secs_f64());
    println!(
        "{:<5} {:>7} {:>8} {:>7} {:>9} {:>16} {:>8} {:>8}",
        "type", "cold s", "cold dl", "best s", "median s", "warm runs s", "size MB", "warm dl"
    );
    for row in &rows {
        let mut sorted = row.warm.clone();
        sorted.sort();
        let runs: Vec<String> = row.warm.iter().map(secs).collect();
        println!(
            "{:<5} {:>7} {:>8} {:>7} {:>9} {:>16} {:>8.1} {:>8}",
            row.kind,
            secs(&row.cold),
            row.cold_downloads,
            secs(&sorted[0]),
            secs(&sorted[sorted.len() / 2]),
            runs.join(" "),
            row.size as f64 / (1 << 20) as f64,
            row.warm_downloads,
        );
    }
    println!(
        "\nbest, median, runs: the {WARM_RUNS} warm builds; dl: target files the repository served \
         (0 expected when warm)"
    );
}
