//! The Lambda entry points: every HTTP function binary calls `run` with its group; the jobs
//! and packager-worker functions call `run_jobs`.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_http::{service_fn, LambdaEvent};

use crate::adapters::aws::{AwsPorts, AwsResourceNames};
use crate::api::routes::{router_with, Route};
use crate::api::Group;
use crate::app::{App, Settings};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("missing environment variable {0}")]
    MissingEnv(&'static str),
    #[error("invalid environment variable {0}: {1}")]
    InvalidEnv(&'static str, String),
    #[error(transparent)]
    Resources(#[from] crate::adapters::aws::ConfigError),
}

fn settings_from_env() -> Result<Settings, StartupError> {
    let admin_token_secret = std::env::var("FLOTILLA_ADMIN_TOKEN_SECRET")
        .map_err(|_| StartupError::MissingEnv("FLOTILLA_ADMIN_TOKEN_SECRET"))?;
    let mut settings = Settings::new(admin_token_secret);
    if let Some(days) = positive_env("FLOTILLA_CARVE_EXPIRY_DAYS")? {
        settings.carve_expiry_days = days;
    }
    let packager = &mut settings.packager;
    packager.key_secret = std::env::var("FLOTILLA_PACKAGER_KEY_SECRET")
        .map_err(|_| StartupError::MissingEnv("FLOTILLA_PACKAGER_KEY_SECRET"))?;
    if let Some(minutes) = positive_env("FLOTILLA_PACKAGE_EXPIRY_MINUTES")? {
        packager.expiry_minutes = minutes;
    }
    if let Some(url) = non_empty_env("FLOTILLA_PACKAGER_UPDATE_URL") {
        packager.update_url = url;
    }
    packager.update_root = non_empty_env("FLOTILLA_PACKAGER_UPDATE_ROOT");
    packager.signing_secret = non_empty_env("FLOTILLA_PACKAGER_SIGNING_SECRET");
    packager.notary_secret = non_empty_env("FLOTILLA_PACKAGER_NOTARY_SECRET");
    if let Some(value) = non_empty_env("FLOTILLA_PACKAGER_TIMESTAMP_URL") {
        packager.set_timestamp_url(&value);
    }
    packager
        .check()
        .map_err(|e| StartupError::InvalidEnv("FLOTILLA_PACKAGER_NOTARY_SECRET", e))?;
    settings.public_url = non_empty_env("FLOTILLA_PUBLIC_URL");
    if let Some(secs) = positive_env("FLOTILLA_HOST_QUERY_WAIT_SECS")? {
        settings.host_query_wait =
            std::time::Duration::from_secs(secs.min(Settings::MAX_HOST_QUERY_WAIT_SECS).into());
    }
    let identity = &mut settings.identity;
    if let Some(hours) = positive_env("FLOTILLA_SESSION_IDLE_HOURS")? {
        identity.sessions.idle_secs = i64::from(hours) * 3600;
    }
    if let Some(hours) = positive_env("FLOTILLA_SESSION_LIFETIME_HOURS")? {
        identity.sessions.lifetime_secs = i64::from(hours) * 3600;
    }
    if let Some(days) = positive_env("FLOTILLA_API_TOKEN_DAYS")? {
        identity.api_token_days = days;
    }
    if let Some(days) = positive_env("FLOTILLA_ACTIVITY_RETENTION_DAYS")? {
        identity.activity_retention_days = days;
    }
    identity.sso_client_secret = non_empty_env("FLOTILLA_SSO_CLIENT_SECRET");
    Ok(settings)
}

/// A positive whole number from the environment, when set.
fn positive_env(name: &'static str) -> Result<Option<u32>, StartupError> {
    match non_empty_env(name) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .ok()
            .filter(|n: &u32| *n > 0)
            .map(Some)
            .ok_or(StartupError::InvalidEnv(name, value)),
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Builds the application over the AWS adapters named by the function's environment.
pub async fn app_from_env() -> Result<App, StartupError> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let names = AwsResourceNames::from_env()?;
    Ok(App::new(AwsPorts::new(&sdk, &names), settings_from_env()?))
}

/// Serves `groups` on the Lambda runtime until it shuts the instance down.
pub async fn run(groups: &[Group]) -> Result<(), lambda_http::Error> {
    run_with(groups, Vec::new).await
}

/// As `run`, with routes declared outside this crate (the admin function serves the UI's).
pub async fn run_with(
    groups: &[Group],
    extra: impl FnOnce() -> Vec<Route>,
) -> Result<(), lambda_http::Error> {
    crate::telemetry::init(true);
    let app = app_from_env().await?;
    lambda_http::run(router_with(app, groups, extra())).await
}

/// Runs one SQS batch of jobs. Failed messages are reported back (the function is set up
/// with `ReportBatchItemFailures`), so SQS delivers only those again, and after the queue's
/// maxReceiveCount moves them to the dead-letter queue.
pub async fn handle_sqs_event(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.unwrap_or_default();
        let body = message.body.unwrap_or_default();
        if let Err(err) = crate::jobs::handle(app, &body).await {
            tracing::warn!(message_id = %id, %err, "job failed; SQS will deliver it again");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The jobs function: SQS invokes it with batches of queue messages.
pub async fn run_jobs() -> Result<(), lambda_http::Error> {
    crate::telemetry::init(true);
    let app = app_from_env().await?;
    let app = &app;
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_http::Error>(handle_sqs_event(app, event.payload).await)
    }))
    .await
}
