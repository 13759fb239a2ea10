//! The request's source address: API Gateway's `sourceIp` on Lambda, the peer address locally.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::SocketAddr;

pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        #[cfg(feature = "aws")]
        if let Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) =
            parts
                .extensions
                .get::<lambda_http::request::RequestContext>()
        {
            if let Some(ip) = &context.http.source_ip {
                return Ok(ClientIp(ip.clone()));
            }
        }
        if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            return Ok(ClientIp(addr.ip().to_string()));
        }
        // Without a known address every such request shares one budget: stricter, never looser.
        Ok(ClientIp("unknown".into()))
    }
}
