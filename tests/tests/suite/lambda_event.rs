//! The Lambda path itself: API Gateway HTTP API (payload 2.0) events, as the runtime hands
//! them to a function, through lambda_http into one function's router over the AWS adapters.

use base64::Engine;
use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};
use std::io::Write;
use tower::ServiceExt;

use flotilla::adapters::aws::AwsPorts;
use flotilla::api::{router, Group};
use flotilla::domain::enroll_secrets;
use flotilla::{App, Settings};

fn event(method: &str, path: &str, body: &[u8], gzip: bool) -> String {
    let body = if gzip {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(body).expect("gzip");
        enc.finish().expect("gzip")
    } else {
        body.to_vec()
    };
    let mut headers = json!({"content-type": "application/json", "user-agent": "osquery/5.12.1"});
    if gzip {
        headers["content-encoding"] = json!("gzip");
    }
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": "osquery/5.12.1"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "23/Nov/2026:09:00:00 +0000", "timeEpoch": 1795424400000u64
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    })
    .to_string()
}

async fn invoke(router: &axum::Router, event: String) -> (u16, Value) {
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_function_handles_api_gateway_events() {
    let (sdk, names) = flotilla_tests::moto::moto_aws().await;
    let app = App::new(AwsPorts::new(&sdk, &names), Settings::new("unused"));
    enroll_secrets::replace(
        app.state(),
        app.clock.now(),
        None,
        vec![Some("lambda-secret".into())],
    )
    .await
    .expect("seed");
    let enroll = router(app, &[Group::Enroll]);

    let body = json!({"enroll_secret": "lambda-secret", "host_identifier": "x",
        "host_details": {"system_info": {"uuid": "77777777-0000-0000-0000-000000000001"}}});
    let (status, answer) = invoke(
        &enroll,
        event(
            "POST",
            "/api/v1/osquery/enroll",
            body.to_string().as_bytes(),
            true,
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["node_key"].is_string());

    let bad = json!({"enroll_secret": "nope", "host_identifier": "x"});
    let (status, answer) = invoke(
        &enroll,
        event(
            "POST",
            "/api/osquery/enroll",
            bad.to_string().as_bytes(),
            false,
        ),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(answer["node_invalid"], true);

    // The function serves its own routes only.
    let (status, _) = invoke(&enroll, event("POST", "/api/osquery/config", b"{}", false)).await;
    assert_eq!(status, 404);
}

/// The jobs function: an SQS event as Lambda hands it over; a message that fails is reported
/// back by id (ReportBatchItemFailures), so SQS redelivers it alone and dead-letters it later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_function_reports_failed_messages_of_an_sqs_batch() {
    let (sdk, names) = flotilla_tests::moto::moto_aws().await;
    let app = App::new(AwsPorts::new(&sdk, &names), Settings::new("unused"));
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(json!({
        "Records": [
            {"messageId": "m-ok", "receiptHandle": "r1", "eventSource": "aws:sqs",
             "body": "{\"kind\":\"carve_part\",\"carve\":404,\"part\":0}",
             "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795424400000",
                 "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1795424400000"},
             "messageAttributes": {}, "md5OfBody": "x",
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "awsRegion": "us-east-1"},
            {"messageId": "m-bad", "receiptHandle": "r2", "eventSource": "aws:sqs",
             "body": "not a job",
             "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1795424400000",
                 "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1795424400000"},
             "messageAttributes": {}, "md5OfBody": "x",
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "awsRegion": "us-east-1"}
        ]
    }))
    .expect("an SQS event");
    let response = flotilla::lambda::handle_sqs_event(&app, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.as_str())
        .collect();
    // A job for a carve that no longer exists has nothing to do: it succeeds.
    assert_eq!(failed, ["m-bad"]);
    let json = serde_json::to_value(&response).expect("serialise");
    assert_eq!(
        json,
        json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}]})
    );
}

/// The browser's session cookie on Lambda: API Gateway moves `Cookie` headers into the event's
/// `cookies` list, and the admin function must still find the session there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_function_reads_the_session_cookie_from_api_gateway_events() {
    use flotilla::domain::identity::roles::Role;
    use flotilla::domain::identity::sessions::{self, CredentialKind};
    use flotilla::domain::identity::users::{self, NewUser};

    let (sdk, names) = flotilla_tests::moto::moto_aws().await;
    let secret = format!("admin-token-{}", uuid::Uuid::new_v4());
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret)
        .secret_string("break-glass-token-value")
        .send()
        .await
        .expect("admin token secret");
    let app = App::new(AwsPorts::new(&sdk, &names), Settings::new(secret));
    let id = users::next_id(app.state()).await.expect("id");
    let user = users::build(
        NewUser {
            name: "Cookie".into(),
            email: format!("cookie{id}@example.com"),
            password: None,
            global_role: Some(Role::Observer),
            teams: Vec::new(),
            api_only: false,
            sso_enabled: true,
        },
        id,
        app.clock.now(),
    )
    .expect("user");
    users::create(app.state(), &user).await.expect("create");
    let now = app.clock.unix();
    let session = sessions::create(
        app.state(),
        id,
        CredentialKind::Session,
        now,
        Some(now + 3600),
    )
    .await
    .expect("session");
    let admin = router(app, &[Group::Admin]);

    let mut with_cookie: Value =
        serde_json::from_str(&event("GET", "/api/v1/fleet/me", b"", false)).expect("event");
    with_cookie["cookies"] = json!([
        "theme=dark",
        format!("__Host-flotilla_session={}", session.token)
    ]);
    with_cookie["body"] = Value::Null;
    with_cookie["isBase64Encoded"] = json!(false);
    let (status, me) = invoke(&admin, with_cookie.to_string()).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["id"], id);
    assert!(me["csrf_token"].is_string());

    let mut without: Value =
        serde_json::from_str(&event("GET", "/api/v1/fleet/me", b"", false)).expect("event");
    without["cookies"] = json!(["__Host-flotilla_session=forged"]);
    let (status, _) = invoke(&admin, without.to_string()).await;
    assert_eq!(status, 401);
}
