//! Fleet Desktop's device API against both adapter families: a token set by orbit works for an
//! hour, the "My device" page, and the per-address limit on invalid tokens.

use base64::Engine;
use flotilla_tests::harness::{Family, Flotilla};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

flotilla_tests::both!(device_token_session, invalid_tokens_are_rate_limited);

const TOKEN: &str = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";

/// A host with a Fleet Desktop token.
async fn host_with_token(f: &Flotilla) -> String {
    f.host_with_device_token("0E0E0E0E-0000-0000-0000-000000000001", "desk-1", TOKEN)
        .await
}

async fn get(f: &Flotilla, path: &str) -> reqwest::Response {
    f.http()
        .get(format!("{}{path}", f.base))
        .send()
        .await
        .expect("request")
}

async fn device_token_session(family: Family) {
    let f = Flotilla::start(family).await;
    let token = host_with_token(&f).await;
    for version in ["v1", "latest"] {
        let response = get(&f, &format!("/api/{version}/fleet/device/{token}/desktop")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["failing_policies_count"], 0);
        assert!(body["self_service"].is_boolean());
        assert!(body["notifications"].is_object());
        assert!(body["config"]["org_info"]["org_name"].is_string());

        let body: Value = get(&f, &format!("/api/{version}/fleet/device/{token}"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(body["host"]["hostname"], "host-0e0e0e0e-vitals");
        assert_eq!(body["host"]["uuid"], "0E0E0E0E-0000-0000-0000-000000000001");

        let ping = f
            .http()
            .head(format!(
                "{}/api/{version}/fleet/device/{token}/ping",
                f.base
            ))
            .send()
            .await
            .expect("ping");
        assert_eq!(ping.status(), StatusCode::OK);
    }

    // The "My device" page: HTML, strict CSP, nothing loaded from elsewhere, no referrer.
    let page = get(&f, &format!("/device/{token}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("host-0e0e0e0e-vitals")
            && html.contains("Ubuntu 22.04.4 LTS")
            && html.contains("5.12.1")
    );
    // The CSP allows exactly the page's own style block, by its hash.
    let style = html
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(style, _)| style)
        .expect("a style block");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
    for external in ["<script", "<link", "src=", "http://", "@import"] {
        assert!(
            !html.contains(external),
            "page loads nothing from elsewhere: found {external}"
        );
    }
    // Times as people read them, the exact time on hover; no contact named by default.
    assert!(
        html.contains("<time datetime=") && html.contains(" UTC\">"),
        "{html}"
    );
    assert!(
        html.contains("just now") || html.contains("ago</time>"),
        "{html}"
    );
    assert!(
        !html.contains("Questions?") && !html.contains("fleetdm.com"),
        "{html}"
    );
    let (status, _) = f
        .admin(
            "PATCH",
            "/api/v1/fleet/config",
            Some(json!({"org_info": {"contact_url": "https://it.example.com/help?a=1&b=2"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let html = get(&f, &format!("/device/{token}"))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains(r#"<a href="https://it.example.com/help?a=1&amp;b=2" rel="noreferrer">Contact your IT team</a>"#),
        "{html}"
    );

    // Unknown token: 401; and the token stops working an hour after it was set.
    assert_eq!(
        get(&f, "/api/v1/fleet/device/not-a-token/desktop")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    f.advance_secs(3599);
    assert_eq!(
        get(&f, &format!("/api/latest/fleet/device/{token}/desktop"))
            .await
            .status(),
        StatusCode::OK
    );
    f.advance_secs(2);
    let expired = get(&f, &format!("/api/latest/fleet/device/{token}/desktop")).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let body: Value = expired.json().await.expect("json");
    assert!(body["error"].is_string());
    assert_eq!(
        get(&f, &format!("/device/{token}")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn invalid_tokens_are_rate_limited(family: Family) {
    let f = Flotilla::start(family).await;
    let token = host_with_token(&f).await;
    for i in 0..720 {
        let status = get(&f, &format!("/api/v1/fleet/device/bad-{i}/desktop"))
            .await
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "request {i}");
    }
    let limited = get(&f, "/api/v1/fleet/device/bad-720/desktop").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = limited.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry), "{retry}");
    // Over the limit, even a valid token waits: the address is blocked, not the token.
    assert_eq!(
        get(&f, &format!("/api/v1/fleet/device/{token}/desktop"))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The limit lives in the store: a window later it is lifted.
    f.advance_secs(retry);
    assert_eq!(
        get(&f, &format!("/api/v1/fleet/device/{token}/desktop"))
            .await
            .status(),
        StatusCode::OK
    );
}
