//! The API's public base URL, for links the API hands out (`packager_url`, download URLs):
//! the configured one, else the request's own (API Gateway sets X-Forwarded-Proto; the Host
//! is the API's domain).

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::HOST;
use axum::http::request::Parts;
use std::convert::Infallible;

use crate::app::App;

pub struct PublicUrl(pub String);

impl<S> FromRequestParts<S> for PublicUrl
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let app = App::from_ref(state);
        if let Some(configured) = &app.settings.public_url {
            return Ok(PublicUrl(configured.trim_end_matches('/').to_string()));
        }
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let proto = header("x-forwarded-proto")
            .filter(|p| p == "https" || p == "http")
            .unwrap_or_else(|| "http".into());
        let host = parts
            .headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
            })
            .unwrap_or("localhost")
            .to_string();
        Ok(PublicUrl(format!("{proto}://{host}")))
    }
}
