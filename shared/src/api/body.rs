//! Request bodies: size limits, gzip, JSON. Bad bodies become 4xx answers, never panics.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::cell::Cell;
use std::io::{self, BufReader, Read};

use crate::error::ApiError;

/// Lambda's synchronous request payload limit; the local server enforces the same.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// The most a gzip body may expand to (osquery sends at most 1024 log lines a request).
pub const MAX_DECODED_BYTES: usize = 32 * 1024 * 1024;

/// A JSON request body, gunzipped when `Content-Encoding: gzip`.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body).await?;
        decode_json(&parts.headers, &bytes).map(JsonBody)
    }
}

async fn read_limited(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Refuse before reading a byte when the length is declared.
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            })
        }
        Err(_) => Err(ApiError::bad_request("could not read the request body")),
    }
}

fn decode_json(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match encoding.as_deref() {
        None | Some("") | Some("identity") => serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}"))),
        Some("gzip") | Some("x-gzip") => decode_gzip_json(bytes),
        Some(other) => Err(ApiError::UnsupportedEncoding(other.to_string())),
    }
}

/// Reads through `inner` and fails once more than `limit` bytes came out.
struct Capped<'a, R> {
    inner: R,
    remaining: usize,
    exceeded: &'a Cell<bool>,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > self.remaining {
            self.exceeded.set(true);
            return Err(io::Error::other("decoded body over the limit"));
        }
        self.remaining -= n;
        Ok(n)
    }
}

/// Parses while decompressing, so a gzip bomb stops at the limit instead of filling memory.
fn decode_gzip_json(bytes: &[u8]) -> Result<Value, ApiError> {
    let exceeded = Cell::new(false);
    let reader = BufReader::new(Capped {
        inner: MultiGzDecoder::new(bytes),
        remaining: MAX_DECODED_BYTES,
        exceeded: &exceeded,
    });
    match serde_json::from_reader(reader) {
        Ok(value) => Ok(value),
        Err(_) if exceeded.get() => Err(ApiError::PayloadTooLarge {
            limit: MAX_DECODED_BYTES,
        }),
        Err(e) if e.is_io() => Err(ApiError::bad_request(
            "invalid gzip body (Content-Encoding: gzip)",
        )),
        Err(e) => Err(ApiError::bad_request(format!("invalid JSON: {e}"))),
    }
}

/// The body as a typed request, or 400 naming what is wrong.
pub fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).expect("gzip");
        enc.finish().expect("gzip")
    }

    fn gzip_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, "gzip".parse().expect("header"));
        h
    }

    #[test]
    fn gzip_json_round_trip() {
        let body = gzip(br#"{"node_key":"k","data":[1,2]}"#);
        let value = decode_json(&gzip_headers(), &body).expect("decoded");
        assert_eq!(value["data"][1], 2);
    }

    #[test]
    fn gzip_bomb_is_413_and_garbage_is_400() {
        // 40 MiB of spaces then a value: valid JSON once decoded, but over the limit.
        let mut big = vec![b' '; 40 * 1024 * 1024];
        big.extend_from_slice(b"{}");
        let bomb = gzip(&big);
        assert!(bomb.len() < MAX_BODY_BYTES);
        match decode_json(&gzip_headers(), &bomb) {
            Err(ApiError::PayloadTooLarge { .. }) => {}
            other => panic!("expected 413, got {other:?}"),
        }
        match decode_json(&gzip_headers(), b"not gzip at all") {
            Err(ApiError::BadRequest(msg)) => assert!(msg.contains("gzip"), "{msg}"),
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn unknown_encoding_and_bad_json() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, "br".parse().expect("header"));
        assert!(matches!(
            decode_json(&h, b"{}"),
            Err(ApiError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decode_json(&HeaderMap::new(), b"{"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
