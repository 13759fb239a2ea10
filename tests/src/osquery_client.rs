//! A test client that speaks osquery's TLS remote API the way osquery does
//! (wire-contracts.md): enroll with host details, then config, distributed read/write and
//! log with the node key; on a `node_invalid` answer it drops its key and enrolls again.

use base64::Engine;
use flate2::{write::GzEncoder, Compression};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostIdentifier {
    /// `--host_identifier=uuid`: the hardware UUID.
    Uuid,
    /// `--host_identifier=instance`: osquery's per-database instance id (cloned VMs).
    Instance,
}

#[derive(Clone, Debug)]
pub struct OsqueryClient {
    http: reqwest::Client,
    base: String,
    pub enroll_secret: String,
    pub node_key: Option<String>,
    pub uuid: String,
    pub instance_id: String,
    pub hostname: String,
    pub platform: &'static str,
    pub identifier: HostIdentifier,
    /// Send `/api/v1/osquery/...` (orbit's form) instead of `/api/osquery/...`.
    pub v1_paths: bool,
    /// Send the key as `Authorization: NodeKey <key>` instead of in the body.
    pub header_auth: bool,
    /// `--logger_tls_compress`.
    pub gzip: bool,
    pub enroll_count: u32,
    /// fleetd's osquery extension is loaded, at this orbit version: its `orbit_info` table
    /// exists. None: plain osquery, whose discovery query for it returns no row.
    pub orbit_extension: Option<String>,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl OsqueryClient {
    pub fn new(base: &str, enroll_secret: &str, uuid: &str) -> Self {
        OsqueryClient {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            enroll_secret: enroll_secret.to_string(),
            node_key: None,
            uuid: uuid.to_string(),
            instance_id: uuid::Uuid::new_v4().to_string(),
            hostname: format!("host-{}", &uuid[..uuid.len().min(8)]).to_lowercase(),
            platform: "ubuntu",
            identifier: HostIdentifier::Uuid,
            v1_paths: false,
            header_auth: false,
            gzip: false,
            enroll_count: 0,
            orbit_extension: None,
        }
    }

    fn url(&self, endpoint: &str) -> String {
        let prefix = if self.v1_paths {
            "/api/v1/osquery"
        } else {
            "/api/osquery"
        };
        format!("{}{prefix}{endpoint}", self.base)
    }

    pub fn host_details(&self) -> Value {
        json!({
            "os_version": {"name": "Ubuntu", "version": "22.04.4 LTS (Jammy Jellyfish)", "major": "22",
                "minor": "4", "patch": "0", "platform": self.platform, "platform_like": "debian"},
            "osquery_info": {"version": "5.12.1", "instance_id": self.instance_id, "pid": "4242",
                "build_platform": "ubuntu", "build_distro": "centos7"},
            "system_info": {"uuid": self.uuid, "hostname": self.hostname, "hardware_serial": "SER-1",
                "hardware_model": "VirtualBox", "computer_name": self.hostname, "cpu_brand": "Xeon"},
            "platform_info": {"vendor": "innotek GmbH", "version": "VirtualBox"}
        })
    }

    async fn send(&self, endpoint: &str, body: &Value) -> Answer {
        let raw = serde_json::to_vec(body).expect("json");
        let mut request = self
            .http
            .post(self.url(endpoint))
            .header("content-type", "application/json");
        if self.header_auth {
            if let Some(key) = &self.node_key {
                request = request.header("authorization", format!("NodeKey {key}"));
            }
        }
        let request = if self.gzip {
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(&raw).expect("gzip");
            request
                .header("content-encoding", "gzip")
                .body(enc.finish().expect("gzip"))
        } else {
            request.body(raw)
        };
        let response = request.send().await.expect("request reached the server");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "non-JSON answer {status}: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Answer { status, body }
    }

    /// osquery's enroll. Panics unless it succeeds, as a test precondition.
    pub async fn enroll(&mut self) -> Answer {
        let host_identifier = match self.identifier {
            HostIdentifier::Uuid => self.uuid.clone(),
            HostIdentifier::Instance => self.instance_id.clone(),
        };
        let platform_type = if self.platform == "darwin" {
            "21"
        } else if self.platform == "windows" {
            "2"
        } else {
            "9"
        };
        let body = json!({
            "enroll_secret": self.enroll_secret,
            "host_identifier": host_identifier,
            "platform_type": platform_type,
            "host_details": self.host_details(),
        });
        let answer = self.send("/enroll", &body).await;
        if answer.status.is_success() && answer.body.get("error").is_none() {
            self.node_key = answer.body["node_key"].as_str().map(str::to_string);
            self.enroll_count += 1;
        }
        answer
    }

    /// A node-key request; on `node_invalid` drop the key, enroll, and try once more.
    pub async fn call(&mut self, endpoint: &str, fields: Value) -> Answer {
        for _ in 0..2 {
            if self.node_key.is_none() {
                let enrolled = self.enroll().await;
                assert!(
                    enrolled.status.is_success(),
                    "re-enroll failed: {}",
                    enrolled.body
                );
            }
            let mut body = fields.clone();
            if !self.header_auth {
                body["node_key"] = json!(self.node_key);
            }
            let answer = self.send(endpoint, &body).await;
            if answer.body.get("node_invalid") == Some(&Value::Bool(true)) {
                self.node_key = None;
                continue;
            }
            return answer;
        }
        panic!("still node_invalid after re-enrolling");
    }

    /// One call without the re-enroll behaviour, to observe the server's answer.
    pub async fn call_once(&self, endpoint: &str, fields: Value) -> Answer {
        let mut body = fields;
        if !self.header_auth {
            body["node_key"] = json!(self.node_key);
        }
        self.send(endpoint, &body).await
    }

    pub async fn config(&mut self) -> Answer {
        self.call("/config", json!({})).await
    }

    pub async fn read(&mut self) -> Map<String, Value> {
        let answer = self.call("/distributed/read", json!({})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.get("error").is_none());
        let discovery = answer.body["discovery"]
            .as_object()
            .expect("discovery always present")
            .clone();
        let mut queries = answer.body["queries"]
            .as_object()
            .expect("queries always present")
            .clone();
        // As osquery does: a query whose discovery query returns no row is neither run nor
        // reported. The only discovery this client can answer is for a table's presence.
        for (name, sql) in &discovery {
            let sql = sql.as_str().unwrap_or_default();
            let table = sql
                .split("name = '")
                .nth(1)
                .and_then(|rest| rest.split('\'').next())
                .unwrap_or_else(|| panic!("a discovery query this client cannot answer: {sql}"));
            let present = table == "orbit_info" && self.orbit_extension.is_some();
            if !present {
                queries.remove(name);
            }
        }
        queries
    }

    pub async fn write(&mut self, queries: Value, statuses: Value, messages: Value) -> Answer {
        self.call(
            "/distributed/write",
            json!({"queries": queries, "statuses": statuses, "messages": messages, "stats": {}}),
        )
        .await
    }

    /// Answers host-vitals detail queries the way a real Ubuntu host would.
    pub async fn answer_details(&mut self, queries: &Map<String, Value>) -> Answer {
        let mut rows = Map::new();
        let mut statuses = Map::new();
        for name in queries
            .keys()
            .filter(|n| n.starts_with("fleet_detail_query_"))
        {
            let answer = match name.trim_start_matches("fleet_detail_query_") {
                "system_info" => {
                    json!([{"hostname": format!("{}-vitals", self.hostname), "uuid": self.uuid,
                    "cpu_brand": "Xeon", "physical_memory": "8589934592", "hardware_serial": "SER-1"}])
                }
                "os_version" => {
                    json!([{"name": "Ubuntu", "version": "22.04.4 LTS", "platform": self.platform}])
                }
                "osquery_info" => json!([{"version": "5.12.1"}]),
                "uptime" => json!([{"total_seconds": "7200"}]),
                "orbit_info" => json!([{"version": self.orbit_extension}]),
                "disk_space_unix" => {
                    json!([{"percent_disk_space_available": "42", "gigs_disk_space_available": "21.5", "gigs_total_disk_space": "50"}])
                }
                "network_interface_unix" => {
                    json!([{"address": "192.0.2.7", "mac": "08:00:27:aa:bb:cc"}])
                }
                "osquery_flags" => json!([{"name": "distributed_interval", "value": "10"},
                    {"name": "config_refresh", "value": "60"}, {"name": "logger_tls_period", "value": "10"}]),
                _ => json!(""),
            };
            rows.insert(name.clone(), answer);
            statuses.insert(name.clone(), json!(0));
        }
        self.write(Value::Object(rows), Value::Object(statuses), json!({}))
            .await
    }

    /// osquery's `carve/begin` for `size` bytes in blocks of `block_size`.
    pub async fn carve_begin(
        &mut self,
        size: usize,
        block_size: usize,
        request_id: &str,
    ) -> Answer {
        self.call(
            "/carve/begin",
            json!({
                "block_count": size.div_ceil(block_size),
                "block_size": block_size,
                "carve_size": size,
                "carve_id": uuid::Uuid::new_v4().to_string(),
                "request_id": request_id,
            }),
        )
        .await
    }

    /// One `carve/block` (no node key: the session id and request id authorise it).
    pub async fn carve_block(
        &self,
        session_id: &str,
        request_id: &str,
        block_id: i64,
        data: &[u8],
    ) -> Answer {
        let body = json!({
            "block_id": block_id,
            "session_id": session_id,
            "request_id": request_id,
            "data": base64::engine::general_purpose::STANDARD.encode(data),
        });
        self.send("/carve/block", &body).await
    }

    /// Carves `data` as osquery's carver does: begin, then every block strictly in order,
    /// each tried up to 3 times. Panics unless every step succeeds; answers the session id.
    pub async fn carve(&mut self, data: &[u8], block_size: usize, request_id: &str) -> String {
        let begun = self.carve_begin(data.len(), block_size, request_id).await;
        assert_eq!(begun.status, StatusCode::OK, "carve/begin: {}", begun.body);
        assert_eq!(begun.body["success"], json!(true));
        let session_id = begun.body["session_id"]
            .as_str()
            .expect("session_id")
            .to_string();
        for (block_id, block) in data.chunks(block_size).enumerate() {
            let mut last = None;
            for _attempt in 0..3 {
                let answer = self
                    .carve_block(&session_id, request_id, block_id as i64, block)
                    .await;
                if answer.status == StatusCode::OK {
                    last = None;
                    break;
                }
                last = Some(answer);
            }
            if let Some(failed) = last {
                panic!(
                    "block {block_id} failed 3 times: {} {}",
                    failed.status, failed.body
                );
            }
        }
        session_id
    }

    pub async fn log(&mut self, log_type: &str, data: Vec<Value>) -> Answer {
        self.call("/log", json!({"log_type": log_type, "data": data}))
            .await
    }
}
