//! What every page's answer carries besides its body: the security headers and compression.

use axum::http::{header, HeaderName, HeaderValue};
use axum::routing::MethodRouter;
use flotilla::app::App;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// Scripts and styles only from our own files (no inline code, no other origin), forms only
/// to ourselves, never inside a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn fixed(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

/// The layers around a page route, outside its authorization so that sign-in redirects and
/// refusals carry them too.
pub fn page_layers(route: MethodRouter<App>) -> MethodRouter<App> {
    // Outermost first: compression sees the final body.
    let layers = ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .layer(fixed(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(fixed(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
        .layer(fixed(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(fixed(header::REFERRER_POLICY, "same-origin"))
        .layer(fixed(header::X_FRAME_OPTIONS, "DENY"))
        .layer(fixed(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        // Pages show what only this user may see: no shared cache keeps them (assets say
        // otherwise for themselves).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(axum::middleware::map_response(crate::error_page::as_html));
    route.layer(layers)
}
