//! Handing a large blob to a client: a redirect to a short-lived URL where the blob store can
//! give one out (S3; a Lambda answer cannot carry more than 6 MB), else the bytes themselves,
//! streamed a chunk at a time.

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ApiError, ApiResult};
use crate::ports::BlobStore;

const CHUNK: u64 = 1024 * 1024;

pub struct Download<'a> {
    pub name: String,
    pub size: u64,
    pub file_name: &'a str,
    pub content_type: &'a str,
    /// How long a handed-out URL works.
    pub url_ttl: Duration,
}

pub async fn serve(blobs: Arc<dyn BlobStore>, download: Download<'_>) -> ApiResult<Response> {
    if let Some(url) = blobs
        .presigned_get(&download.name, download.url_ttl)
        .await?
    {
        // 303: clients fetch the URL with GET, and drop any token on the way (other host).
        return Ok((
            StatusCode::SEE_OTHER,
            [(header::LOCATION, url.clone())],
            Json(json!({ "url": url, "expires_in": download.url_ttl.as_secs() })),
        )
            .into_response());
    }
    let Download { name, size, .. } = download;
    let chunks = futures_util::stream::try_unfold(0u64, move |offset| {
        let blobs = blobs.clone();
        let name = name.clone();
        async move {
            if offset >= size {
                return Ok::<_, ApiError>(None);
            }
            let chunk = blobs
                .get_range(&name, offset, CHUNK.min(size - offset))
                .await?;
            if chunk.is_empty() {
                return Err(ApiError::Internal(format!(
                    "{name} ends at {offset} of {size} bytes"
                )));
            }
            let next = offset + chunk.len() as u64;
            Ok(Some((chunk, next)))
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, download.content_type.to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", download.file_name),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}
