//! A LOCAL STAND-IN for Apple's Notary API (a paid external service), for tests only. It speaks
//! the documented protocol (developer.apple.com/documentation/notaryapi): it checks each call's
//! App Store Connect token (ES256, `kid`, `iss`, audience `appstoreconnect-v1`), hands out an S3
//! location in moto with temporary credentials, and answers status and log requests.
//!
//! Its verdict stands in for Apple's checks: "In Progress" on the first status request, then
//! "Accepted" if the uploaded package has the SHA-256 the submission announced and verifies as
//! signed, "Invalid" with a log of issues otherwise (or always, when told to reject).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Submission {
    pub name: String,
    pub sha256: String,
    pub status_requests: u32,
}

struct Inner {
    key: DecodingKey,
    issuer_id: String,
    key_id: String,
    bucket: String,
    s3: aws_sdk_s3::Client,
    base: String,
    reject: bool,
    submissions: Mutex<HashMap<String, Submission>>,
    refused_tokens: Mutex<u32>,
}

pub struct NotaryStandIn {
    inner: Arc<Inner>,
    /// The API root, as `PackagerSettings::notary_url` takes it.
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for NotaryStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An App Store Connect API key for the stand-in: the credentials JSON the packager reads, and
/// the public key the stand-in checks tokens with.
pub struct ApiKey {
    pub credentials_json: String,
    pub public_key_pem: String,
    pub issuer_id: String,
    pub key_id: String,
}

impl ApiKey {
    pub fn generate(private_key_pem: String, public_key_pem: String) -> Self {
        let issuer_id = uuid::Uuid::new_v4().to_string();
        let key_id = "STANDIN123".to_string();
        let credentials_json = json!({
            "issuer_id": issuer_id,
            "key_id": key_id,
            "private_key": private_key_pem,
        })
        .to_string();
        ApiKey {
            credentials_json,
            public_key_pem,
            issuer_id,
            key_id,
        }
    }
}

impl NotaryStandIn {
    /// Serves on loopback; uploads go to a new bucket in moto (`sdk`).
    pub async fn start(key: &ApiKey, sdk: &aws_config::SdkConfig, reject: bool) -> Self {
        let s3 = crate::moto::s3_client(sdk);
        let bucket = format!("notary-submissions-{}", uuid::Uuid::new_v4());
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("stand-in bucket");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let inner = Arc::new(Inner {
            key: DecodingKey::from_ec_pem(key.public_key_pem.as_bytes()).expect("public key"),
            issuer_id: key.issuer_id.clone(),
            key_id: key.key_id.clone(),
            bucket,
            s3,
            base: base.clone(),
            reject,
            submissions: Mutex::new(HashMap::new()),
            refused_tokens: Mutex::new(0),
        });
        let app = Router::new()
            .route("/notary/v2/submissions", post(submit))
            .route("/notary/v2/submissions/{id}", get(status))
            .route("/notary/v2/submissions/{id}/logs", get(logs))
            .route("/developer-logs/{id}", get(developer_log))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        NotaryStandIn {
            inner,
            url: format!("{base}/notary/v2/"),
            server,
        }
    }

    pub fn submissions(&self) -> Vec<Submission> {
        self.inner
            .submissions
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn refused_tokens(&self) -> u32 {
        self.inner.refused_tokens.lock().map(|n| *n).unwrap_or(0)
    }
}

/// The Notary API's answer shape: `{"data": {"id", "type", "attributes"}, "meta": {}}`.
fn document(id: &str, kind: &str, attributes: Value) -> Response {
    Json(json!({
        "data": {"id": id, "type": kind, "attributes": attributes},
        "meta": {}
    }))
    .into_response()
}

fn error(status: StatusCode, detail: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"status": status.as_u16().to_string(), "detail": detail}]})),
    )
        .into_response()
}

/// Checks the bearer token as Apple documents it; a 401 answer when it is not right.
fn authorized(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let why = token_problem(inner, headers)?;
    if let Ok(mut n) = inner.refused_tokens.lock() {
        *n += 1;
    }
    Some(error(StatusCode::UNAUTHORIZED, why))
}

fn token_problem(inner: &Inner, headers: &HeaderMap) -> Option<&'static str> {
    let refuse = Some;
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return refuse("no bearer token");
    };
    let header = match jsonwebtoken::decode_header(token) {
        Ok(header) => header,
        Err(_) => return refuse("unreadable token"),
    };
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(inner.key_id.as_str()) {
        return refuse("wrong algorithm or key id");
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["appstoreconnect-v1"]);
    validation.set_issuer(&[inner.issuer_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    match jsonwebtoken::decode::<Value>(token, &inner.key, &validation) {
        Ok(data) => {
            let lifetime =
                data.claims["exp"].as_i64().unwrap_or(0) - data.claims["iat"].as_i64().unwrap_or(0);
            if lifetime > 20 * 60 {
                return refuse("tokens live at most 20 minutes");
            }
            None
        }
        Err(_) => refuse("bad token"),
    }
}

async fn submit(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = authorized(&inner, &headers) {
        return refused;
    }
    let name = body["submissionName"].as_str().unwrap_or_default();
    let sha256 = body["sha256"].as_str().unwrap_or_default();
    if name.is_empty() || sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return error(
            StatusCode::BAD_REQUEST,
            "submissionName and sha256 are required",
        );
    }
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(mut submissions) = inner.submissions.lock() {
        submissions.insert(
            id.clone(),
            Submission {
                name: name.to_string(),
                sha256: sha256.to_string(),
                status_requests: 0,
            },
        );
    }
    document(
        &id,
        "newSubmissions",
        json!({
            "awsAccessKeyId": "ASIASTANDIN",
            "awsSecretAccessKey": "stand-in-secret",
            "awsSessionToken": "stand-in-session",
            "bucket": inner.bucket,
            "object": format!("prod/{id}"),
        }),
    )
}

/// What Apple would find: `None` while nothing is uploaded, else the issues (empty: accepted).
async fn inspect(inner: &Inner, id: &str, submission: &Submission) -> Option<Vec<String>> {
    let object = inner
        .s3
        .get_object()
        .bucket(&inner.bucket)
        .key(format!("prod/{id}"))
        .send()
        .await
        .ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    let mut issues = Vec::new();
    if hex::encode(Sha256::digest(&bytes)) != submission.sha256 {
        issues.push("The uploaded file does not match the announced SHA-256.".to_string());
    }
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join(&submission.name);
    std::fs::write(&path, &bytes).ok()?;
    if let Err(e) = packager::pkg::sign::verify(&path) {
        issues.push(format!("The package is not signed: {e}"));
    }
    if inner.reject {
        issues.push("The binary uses an SDK older than the 10.9 SDK.".to_string());
    }
    Some(issues)
}

async fn status(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = authorized(&inner, &headers) {
        return refused;
    }
    let Some(submission) = inner.submissions.lock().ok().and_then(|mut s| {
        let found = s.get_mut(&id)?;
        found.status_requests += 1;
        Some(found.clone())
    }) else {
        return error(StatusCode::NOT_FOUND, "no such submission");
    };
    let status = if submission.status_requests == 1 {
        "In Progress"
    } else {
        match inspect(&inner, &id, &submission).await {
            None => "In Progress",
            Some(issues) if issues.is_empty() => "Accepted",
            Some(_) => "Invalid",
        }
    };
    document(
        &id,
        "submissions",
        json!({"status": status, "name": submission.name, "createdDate": "2026-11-23T00:00:00.000Z"}),
    )
}

async fn logs(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = authorized(&inner, &headers) {
        return refused;
    }
    document(
        &id,
        "submissionsLog",
        json!({"developerLogUrl": format!("{}/developer-logs/{id}", inner.base)}),
    )
}

/// The log is fetched from a presigned URL: no token.
async fn developer_log(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let Some(submission) = inner
        .submissions
        .lock()
        .ok()
        .and_then(|s| s.get(&id).cloned())
    else {
        return error(StatusCode::NOT_FOUND, "no such log");
    };
    let issues = inspect(&inner, &id, &submission).await.unwrap_or_default();
    Json(json!({
        "jobId": id,
        "status": if issues.is_empty() { "Accepted" } else { "Invalid" },
        "statusSummary": if issues.is_empty() { "Ready for distribution" } else { "Archive contains critical validation errors" },
        "issues": issues.iter().map(|message| json!({
            "severity": "error",
            "path": submission.name,
            "message": message,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}
