//! tough's `Transport` over the agent's own reqwest client, so the update server is reached
//! with the same roots, extra CA bundle, `--insecure` and update client certificate as the
//! rest of the agent (tough's `HttpTransport` builds its own client and would ignore them).

use futures_util::TryStreamExt;
use reqwest::StatusCode;
use tough::{Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

#[derive(Debug, Clone)]
pub struct HttpClientTransport {
    client: reqwest::Client,
}

impl HttpClientTransport {
    pub fn new(client: reqwest::Client) -> Self {
        HttpClientTransport { client }
    }
}

/// TUF finds the newest root by asking for `N+1.root.json` until the file does not exist, so
/// "not there" must be told apart from "could not ask". S3 and CloudFront, which commonly host
/// TUF repositories (Fleet's included), answer 403 for a missing object.
fn not_found(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::FORBIDDEN
    )
}

/// reqwest's own message ("error sending request for url") hides the cause (refused
/// connection, unknown CA, missing client certificate); the whole chain is what an operator
/// reading the agent's log needs.
fn with_causes(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[async_trait::async_trait]
impl Transport for HttpClientTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::new(
                TransportErrorKind::UnsupportedUrlScheme,
                url,
            ));
        }
        let response = self.client.get(url.clone()).send().await.map_err(|e| {
            TransportError::new_with_cause(TransportErrorKind::Other, &url, with_causes(&e))
        })?;
        let status = response.status();
        if !status.is_success() {
            let kind = if not_found(status) {
                TransportErrorKind::FileNotFound
            } else {
                TransportErrorKind::Other
            };
            return Err(TransportError::new_with_cause(
                kind,
                &url,
                format!("HTTP {status}"),
            ));
        }
        // Streamed, not buffered: tough enforces the signed length and hash while reading, so
        // an oversized or endless answer is cut off instead of filling memory.
        let stream = response.bytes_stream().map_err(move |e| {
            TransportError::new_with_cause(TransportErrorKind::Other, url.clone(), with_causes(&e))
        });
        Ok(Box::pin(stream))
    }
}
