//! A client of Apple's Notary API (developer.apple.com/documentation/notaryapi): submit a signed
//! package, upload it to the S3 location the service names with the temporary credentials it
//! hands out, then ask for the submission's status and, when it is refused, its log.
//!
//! Notarization takes minutes, so nothing here waits for it: the caller asks again later.
//! Every call carries a fresh App Store Connect token (an ES256 JWT, 15 minutes).

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

pub const APPLE_NOTARY_URL: &str = "https://appstoreconnect.apple.com/notary/v2/";

/// Where Apple's submission bucket lives.
const UPLOAD_REGION: &str = "us-west-2";
const TOKEN_LIFETIME_SECS: u64 = 15 * 60;
const AUDIENCE: &str = "appstoreconnect-v1";
/// A refused submission's log is kept to this many issues in the package's logs.
const LOGGED_ISSUES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum NotaryError {
    #[error("the notary credentials are unusable: {0}")]
    Credentials(String),
    /// The service could not be reached or failed (5xx): asking again later may work.
    #[error("Apple's notary service is unavailable: {0}")]
    Unavailable(String),
    /// The service refused the request (4xx): asking again will not help.
    #[error("Apple's notary service refused {what}: HTTP {status}: {body}")]
    Refused {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("Apple's notary service answered {what} with something unreadable: {error}")]
    Answer { what: &'static str, error: String },
    #[error("uploading the package for notarization: {0}")]
    Upload(String),
    #[error("reading the package: {0}")]
    File(std::io::Error),
}

impl NotaryError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, NotaryError::Unavailable(_) | NotaryError::Upload(_))
    }
}

/// An App Store Connect API key, as a JSON secret:
/// `{"issuer_id": "...", "key_id": "...", "private_key": "-----BEGIN PRIVATE KEY-----..."}`.
#[derive(Deserialize)]
pub struct NotaryCredentials {
    pub issuer_id: String,
    pub key_id: String,
    pub private_key: String,
}

/// Shows the key's id, never the key.
impl fmt::Debug for NotaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotaryCredentials")
            .field("issuer_id", &self.issuer_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl NotaryCredentials {
    pub fn from_json(text: &str) -> Result<Self, NotaryError> {
        // serde_json's message names the missing field, never the values.
        serde_json::from_str(text).map_err(|e| NotaryError::Credentials(e.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionStatus {
    InProgress,
    Accepted,
    Invalid,
    Rejected,
}

impl SubmissionStatus {
    /// As the Notary API spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            SubmissionStatus::InProgress => "In Progress",
            SubmissionStatus::Accepted => "Accepted",
            SubmissionStatus::Invalid => "Invalid",
            SubmissionStatus::Rejected => "Rejected",
        }
    }
}

pub struct NotaryClient {
    http: reqwest::Client,
    base: Url,
    /// An S3 endpoint to upload to instead of AWS's (a stand-in's, in tests).
    upload_endpoint: Option<String>,
    key: EncodingKey,
    issuer_id: String,
    key_id: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
    exp: u64,
    aud: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewSubmission<'a> {
    submission_name: &'a str,
    sha256: String,
}

#[derive(Deserialize)]
struct Response<T> {
    data: Data<T>,
}

#[derive(Deserialize)]
struct Data<T> {
    id: String,
    attributes: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadTarget {
    aws_access_key_id: String,
    aws_secret_access_key: String,
    aws_session_token: String,
    bucket: String,
    object: String,
}

#[derive(Deserialize)]
struct Status {
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogLocation {
    developer_log_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeveloperLog {
    status_summary: Option<String>,
    #[serde(default)]
    issues: Option<Vec<Issue>>,
}

#[derive(Deserialize)]
struct Issue {
    severity: Option<String>,
    path: Option<String>,
    message: Option<String>,
}

impl NotaryClient {
    /// `base` is the API's root (`APPLE_NOTARY_URL`, or a stand-in's).
    pub fn new(
        credentials: &NotaryCredentials,
        base: &str,
        upload_endpoint: Option<String>,
    ) -> Result<Self, NotaryError> {
        let key = EncodingKey::from_ec_pem(credentials.private_key.as_bytes())
            .map_err(|e| NotaryError::Credentials(format!("private_key: {e}")))?;
        let mut base =
            Url::parse(base).map_err(|e| NotaryError::Credentials(format!("URL {base}: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| NotaryError::Unavailable(e.to_string()))?;
        Ok(NotaryClient {
            http,
            base,
            upload_endpoint,
            key,
            issuer_id: credentials.issuer_id.clone(),
            key_id: credentials.key_id.clone(),
        })
    }

    fn token(&self) -> Result<String, NotaryError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.issuer_id,
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
            aud: AUDIENCE,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| NotaryError::Credentials(format!("signing a token: {e}")))
    }

    fn url(&self, path: &str) -> Result<Url, NotaryError> {
        self.base
            .join(path)
            .map_err(|e| NotaryError::Credentials(format!("URL {path}: {e}")))
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, NotaryError> {
        let answer = request
            .bearer_auth(self.token()?)
            .send()
            .await
            .map_err(|e| NotaryError::Unavailable(format!("{what}: {e}")))?;
        let status = answer.status();
        let body = answer
            .text()
            .await
            .map_err(|e| NotaryError::Unavailable(format!("{what}: {e}")))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(NotaryError::Unavailable(format!("{what}: HTTP {status}")));
        }
        if !status.is_success() {
            let body: String = body.chars().take(500).collect();
            return Err(NotaryError::Refused {
                what,
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_str(&body).map_err(|e| NotaryError::Answer {
            what,
            error: e.to_string(),
        })
    }

    /// Submits the file at `path` as `name`; returns the submission's id.
    pub async fn submit(&self, path: &Path, name: &str) -> Result<String, NotaryError> {
        let sha256 = sha256_of(path).await?;
        let request = self
            .http
            .post(self.url("submissions")?)
            .json(&NewSubmission {
                submission_name: name,
                sha256,
            });
        let answer: Response<UploadTarget> = self.call("the submission", request).await?;
        self.upload(path, &answer.data.attributes).await?;
        Ok(answer.data.id)
    }

    async fn upload(&self, path: &Path, target: &UploadTarget) -> Result<(), NotaryError> {
        let credentials = Credentials::new(
            &target.aws_access_key_id,
            &target.aws_secret_access_key,
            Some(target.aws_session_token.clone()),
            None,
            "apple-notary",
        );
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(UPLOAD_REGION))
            .credentials_provider(credentials);
        if let Some(endpoint) = &self.upload_endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| NotaryError::Upload(e.to_string()))?;
        aws_sdk_s3::Client::from_conf(config.build())
            .put_object()
            .bucket(&target.bucket)
            .key(&target.object)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                NotaryError::Upload(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(())
    }

    pub async fn status(&self, id: &str) -> Result<SubmissionStatus, NotaryError> {
        let request = self.http.get(self.url(&format!("submissions/{id}"))?);
        let answer: Response<Status> = self.call("the status request", request).await?;
        let status = answer.data.attributes.status;
        [
            SubmissionStatus::InProgress,
            SubmissionStatus::Accepted,
            SubmissionStatus::Invalid,
            SubmissionStatus::Rejected,
        ]
        .into_iter()
        .find(|known| known.as_str() == status)
        .ok_or_else(|| NotaryError::Answer {
            what: "the status request",
            error: format!("unknown status {status:?}"),
        })
    }

    /// The submission's developer log, summarised for a person: the summary and the issues.
    pub async fn log(&self, id: &str) -> Result<String, NotaryError> {
        let request = self.http.get(self.url(&format!("submissions/{id}/logs"))?);
        let location: Response<LogLocation> = self.call("the log request", request).await?;
        // The log itself is at a presigned URL: no token.
        let log: DeveloperLog = self
            .http
            .get(&location.data.attributes.developer_log_url)
            .send()
            .await
            .and_then(|answer| answer.error_for_status())
            .map_err(|e| NotaryError::Unavailable(format!("the developer log: {e}")))?
            .json()
            .await
            .map_err(|e| NotaryError::Answer {
                what: "the developer log",
                error: e.to_string(),
            })?;
        let mut lines = vec![log.status_summary.unwrap_or_else(|| "(no summary)".into())];
        for issue in log.issues.unwrap_or_default().iter().take(LOGGED_ISSUES) {
            lines.push(format!(
                "{}: {}: {}",
                issue.severity.as_deref().unwrap_or("issue"),
                issue.path.as_deref().unwrap_or("-"),
                issue.message.as_deref().unwrap_or("-"),
            ));
        }
        Ok(lines.join("\n"))
    }
}

async fn sha256_of(path: &Path) -> Result<String, NotaryError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(|e| NotaryError::File(std::io::Error::other(e)))?
    .map_err(NotaryError::File)
}
