//! Flotilla on a loopback port for tests, over either adapter family:
//! - `Embedded`: one App with every route, exactly what flotilla-local serves;
//! - `Moto`: one App per function group (each its own "Lambda instance" with its own caches)
//!   over the AWS adapters against moto, behind a gateway that routes like template.yaml.
//!
//! Both use a `ManualClock`, so tests move time instead of sleeping.

use axum::extract::{ConnectInfo, Request};
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter};
use axum::Router;
use chrono::Utc;
use flate2::read::MultiGzDecoder;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

use flotilla::adapters::aws::{AwsPorts, AwsResourceNames};
use flotilla::adapters::counting::{CountingStore, StoreCalls};
use flotilla::adapters::embedded::EmbeddedPorts;
use flotilla::api::Group;
use flotilla::clock::{Clock, ManualClock};
use flotilla::domain::{credentials::random_secret, enroll_secrets};
use flotilla::ports::LogKind;
use flotilla::{App, PackagerSettings, Ports, Settings};
use flotilla_web::route_table;

static USER_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Embedded,
    Moto,
}

tokio::task_local! {
    /// Set by `as_role!`: `Flotilla::start` then makes a user with this global role and uses
    /// its session for `admin()` calls, so a scenario written for the break-glass token runs
    /// again as that role.
    pub static ADMIN_ROLE: &'static str;
}

/// A user made for a test, with its password and a session token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: u64,
    pub email: String,
    pub password: String,
    pub token: String,
}

pub struct Flotilla {
    pub family: Family,
    pub base: String,
    /// The credential `admin()` sends: the break-glass token, or a role's session (`as_role!`).
    pub admin_token: String,
    /// The deployment's break-glass admin token.
    pub break_glass: String,
    pub enroll_secret: String,
    pub clock: Arc<ManualClock>,
    /// Store calls per function group (all groups share one counter when embedded).
    pub calls: HashMap<Group, Arc<StoreCalls>>,
    /// The apps serving each group.
    pub apps: HashMap<Group, App>,
    /// The app that runs background jobs (the jobs Lambda on AWS, the worker locally).
    pub jobs: App,
    pub data_dir: Option<tempfile::TempDir>,
    pub aws: Option<(aws_config::SdkConfig, AwsResourceNames)>,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Flotilla {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        "HEAD" => MethodFilter::HEAD,
        "PUT" => MethodFilter::PUT,
        other => panic!("method {other} not mapped in the test gateway"),
    }
}

/// Routes each declared route to its group's router, as API Gateway routes to functions.
fn gateway(routers: &HashMap<Group, Router>) -> Router {
    let mut gateway = Router::new();
    for spec in route_table() {
        let target = routers[&spec.group].clone();
        gateway = gateway.route(
            spec.path,
            on(
                method_filter(spec.method),
                move |request: Request| async move {
                    // A fresh request, as the function receives it: without the gateway
                    // router's own matched-path parameters.
                    let (mut parts, body) = request.into_parts();
                    let peer = parts.extensions.remove::<ConnectInfo<SocketAddr>>();
                    parts.extensions = Default::default();
                    if let Some(peer) = peer {
                        parts.extensions.insert(peer);
                    }
                    match target.oneshot(Request::from_parts(parts, body)).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                },
            ),
        );
    }
    // API Gateway's own answer for a route it does not have.
    gateway.fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"message": "Not Found"})),
        )
            .into_response()
    })
}

fn counted(mut ports: Ports) -> (Ports, Arc<StoreCalls>) {
    let (counting, calls) = CountingStore::new(ports.state.clone());
    ports.state = Arc::new(counting);
    (ports, calls)
}

/// What a test adds to the default deployment: secrets (by name) and settings. `settings` is
/// given the stored name of each secret (Secrets Manager's names are made unique per test).
#[derive(Default)]
pub struct Setup {
    pub secrets: Vec<(String, String)>,
    #[allow(clippy::type_complexity)]
    pub settings: Option<Box<dyn Fn(&mut Settings, &dyn Fn(&str) -> String)>>,
}

impl Setup {
    fn apply(&self, settings: &mut Settings, names: &HashMap<String, String>) {
        if let Some(configure) = &self.settings {
            configure(settings, &|name| {
                names.get(name).cloned().unwrap_or_else(|| name.to_string())
            });
        }
    }
}

impl Flotilla {
    pub async fn start(family: Family) -> Flotilla {
        Self::start_with(family, Setup::default()).await
    }

    pub async fn start_with(family: Family, setup: Setup) -> Flotilla {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let admin_token = random_secret();
        let enroll_secret = random_secret();
        let mut calls = HashMap::new();
        let mut apps = HashMap::new();
        let (router, data_dir, aws, jobs) = match family {
            Family::Embedded => {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut secrets = HashMap::from([
                    (Settings::LOCAL_ADMIN_TOKEN.to_string(), admin_token.clone()),
                    (PackagerSettings::LOCAL_KEY.to_string(), random_secret()),
                ]);
                secrets.extend(setup.secrets.iter().cloned());
                let ports = EmbeddedPorts::open(dir.path(), clock.clone(), secrets)
                    .expect("embedded ports");
                let (ports, counter) = counted(ports);
                let mut settings = Settings::new(Settings::LOCAL_ADMIN_TOKEN);
                setup.apply(&mut settings, &HashMap::new());
                let app = App::with_clock(ports, settings, clock.clone());
                for group in Group::ALL {
                    calls.insert(group, counter.clone());
                    apps.insert(group, app.clone());
                }
                (
                    flotilla_web::router(app.clone(), &Group::ALL),
                    Some(dir),
                    None,
                    app,
                )
            }
            Family::Moto => {
                let (sdk, names) = crate::moto::moto_aws().await;
                let secret_name = format!("admin-token-{}", uuid::Uuid::new_v4());
                let created = aws_sdk_secretsmanager::Client::new(&sdk)
                    .create_secret()
                    .name(&secret_name)
                    .secret_string(&admin_token)
                    .send()
                    .await
                    .expect("create admin secret in moto");
                let mut settings = Settings::new(created.arn().unwrap_or(&secret_name));
                let key_name = format!("packager-key-{}", uuid::Uuid::new_v4());
                aws_sdk_secretsmanager::Client::new(&sdk)
                    .create_secret()
                    .name(&key_name)
                    .secret_string(random_secret())
                    .send()
                    .await
                    .expect("create packager key in moto");
                settings.packager.key_secret = key_name;
                let mut stored_names = HashMap::new();
                for (name, value) in &setup.secrets {
                    let stored = format!("{name}-{}", uuid::Uuid::new_v4());
                    aws_sdk_secretsmanager::Client::new(&sdk)
                        .create_secret()
                        .name(&stored)
                        .secret_string(value)
                        .send()
                        .await
                        .expect("create a test's secret in moto");
                    stored_names.insert(name.clone(), stored);
                }
                setup.apply(&mut settings, &stored_names);
                let mut routers = HashMap::new();
                for group in Group::ALL {
                    let (ports, counter) =
                        counted(AwsPorts::with_clock(&sdk, &names, clock.clone()));
                    let app = App::with_clock(ports, settings.clone(), clock.clone());
                    routers.insert(group, flotilla_web::router(app.clone(), &[group]));
                    calls.insert(group, counter);
                    apps.insert(group, app);
                }
                let jobs = App::with_clock(
                    AwsPorts::with_clock(&sdk, &names, clock.clone()),
                    settings,
                    clock.clone(),
                );
                (gateway(&routers), None, Some((sdk, names)), jobs)
            }
        };
        let admin_app = &apps[&Group::Admin];
        enroll_secrets::replace(
            admin_app.state(),
            clock.now(),
            None,
            vec![Some(enroll_secret.clone())],
        )
        .await
        .expect("seed enroll secret");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        let mut flotilla = Flotilla {
            family,
            base,
            admin_token: admin_token.clone(),
            break_glass: admin_token,
            enroll_secret,
            clock,
            calls,
            apps,
            jobs,
            data_dir,
            aws,
            http: reqwest::Client::new(),
            server,
        };
        if let Ok(role) = ADMIN_ROLE.try_with(|role| *role) {
            let user = flotilla.user(Some(role), &[]).await;
            flotilla.admin_token = user.token;
        }
        flotilla
    }

    /// Creates a user through the API with the break-glass token and signs it in.
    pub async fn user(&self, global_role: Option<&str>, teams: &[(u64, &str)]) -> TestUser {
        let n = USER_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let email = format!("user{n}-{}@example.com", global_role.unwrap_or("team"));
        let password = format!("test password {n}!");
        let teams: Vec<Value> = teams
            .iter()
            .map(|(id, role)| serde_json::json!({"id": id, "role": role}))
            .collect();
        let (status, created) = self
            .admin_as(
                Some(&self.break_glass),
                "POST",
                "/api/v1/fleet/users/admin",
                Some(serde_json::json!({
                    "name": format!("User {n}"), "email": email, "password": password,
                    "global_role": global_role, "teams": teams,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "create user: {created}");
        let id = created["user"]["id"].as_u64().expect("user id");
        let token = self.login(&email, &password).await;
        TestUser {
            id,
            email,
            password,
            token,
        }
    }

    /// Signs in with a password and answers the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, answer) = self
            .admin_as(
                None,
                "POST",
                "/api/v1/fleet/login",
                Some(serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login: {answer}");
        answer["token"].as_str().expect("token").to_string()
    }

    /// Today's date on the test clock, as the log layout writes it.
    pub fn clock_date(&self) -> String {
        self.clock.now().format("%Y-%m-%d").to_string()
    }

    pub fn advance_secs(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    /// Lets `secs` pass for delayed queue messages: SQS (moto) keeps real time, the embedded
    /// queue the test clock.
    pub async fn let_pass(&self, secs: u64) {
        self.advance_secs(secs as i64);
        if self.family == Family::Moto {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        }
    }

    pub fn client(&self, uuid: &str) -> crate::osquery_client::OsqueryClient {
        crate::osquery_client::OsqueryClient::new(&self.base, &self.enroll_secret, uuid)
    }

    /// An admin API call with the break-glass token that must succeed; answers its body.
    pub async fn break_glass_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self
            .admin_as(Some(&self.break_glass), method, path, body)
            .await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        answer
    }

    /// Enrolls a host through orbit and osquery (vitals answered) and gives it the Fleet
    /// Desktop `token`, as orbit does; answers the token.
    pub async fn host_with_device_token(&self, uuid: &str, hostname: &str, token: &str) -> String {
        let enrolled: Value = self
            .http()
            .post(format!("{}/api/fleet/orbit/enroll", self.base))
            .json(&serde_json::json!({"enroll_secret": self.enroll_secret, "hardware_uuid": uuid, "hostname": hostname, "platform": "ubuntu"}))
            .send()
            .await
            .expect("orbit enroll")
            .json()
            .await
            .expect("json");
        let mut osquery = self.client(uuid);
        osquery.enroll().await;
        let queries = osquery.read().await;
        osquery.answer_details(&queries).await;
        let status = self
            .http()
            .post(format!("{}/api/fleet/orbit/device_token", self.base))
            .json(&serde_json::json!({"orbit_node_key": enrolled["orbit_node_key"], "device_auth_token": token}))
            .send()
            .await
            .expect("device token")
            .status();
        assert_eq!(status, StatusCode::OK);
        token.to_string()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// An admin API call with the admin token.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.admin_as(Some(&self.admin_token), method, path, body)
            .await
    }

    pub async fn admin_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_answer(request).await
    }

    /// A raw POST, for malformed-input tests.
    pub async fn post_raw(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        json_answer(request).await
    }

    /// Runs queued background jobs until the queue is empty, as the jobs Lambda (or the local
    /// worker) would; answers how many succeeded.
    pub async fn run_jobs(&self) -> usize {
        flotilla::jobs::worker::drain(&self.jobs)
            .await
            .expect("job queue")
    }

    pub fn store_calls(&self, group: Group) -> u64 {
        self.calls[&group].total()
    }

    /// Every log line the sink has stored for `kind`, read back from where it ends up
    /// (the data dir locally, the bucket behind Firehose on AWS).
    pub async fn stored_log_lines(&self, kind: LogKind) -> Vec<Value> {
        let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
        match self.family {
            Family::Embedded => {
                let root = self
                    .data_dir
                    .as_ref()
                    .expect("data dir")
                    .path()
                    .join("logs")
                    .join(kind.as_str());
                for path in files_under(&root) {
                    let bytes = std::fs::read(&path).expect("read log file");
                    blobs.push((path.display().to_string(), bytes));
                }
            }
            Family::Moto => {
                let (sdk, names) = self.aws.as_ref().expect("aws");
                let s3 = flotilla::adapters::aws::s3_client(sdk, names.s3_path_style);
                let listed = s3
                    .list_objects_v2()
                    .bucket(&names.bucket)
                    .prefix(format!("logs/{}/", kind.as_str()))
                    .send()
                    .await
                    .expect("list logs");
                for object in listed.contents() {
                    let key = object.key().unwrap_or_default().to_string();
                    let got = s3
                        .get_object()
                        .bucket(&names.bucket)
                        .key(&key)
                        .send()
                        .await
                        .expect("get");
                    let bytes = got
                        .body
                        .collect()
                        .await
                        .expect("body")
                        .into_bytes()
                        .to_vec();
                    blobs.push((key, bytes));
                }
            }
        }
        let mut lines = Vec::new();
        for (name, bytes) in blobs {
            let text = if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut out = String::new();
                MultiGzDecoder::new(&bytes[..])
                    .read_to_string(&mut out)
                    .unwrap_or_else(|e| panic!("{name} is not valid gzip: {e}"));
                out
            } else {
                assert_eq!(
                    self.family,
                    Family::Moto,
                    "{name}: local log files must be gzip"
                );
                String::from_utf8(bytes).expect("utf8")
            };
            assert!(
                text.is_empty() || text.ends_with('\n'),
                "{name}: lines end with a newline"
            );
            for line in text.lines().filter(|l| !l.is_empty()) {
                lines.push(
                    serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("{name}: bad line {line}: {e}")),
                );
            }
        }
        lines
    }

    pub fn log_files(&self, kind: LogKind) -> Vec<PathBuf> {
        match &self.data_dir {
            Some(dir) => files_under(&dir.path().join("logs").join(kind.as_str())),
            None => Vec::new(),
        }
    }
}

/// Sends the request; every answer must be JSON, errors included.
async fn json_answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request reached the server");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "non-JSON answer {status}: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
