//! The AWS adapters (feature `aws`): DynamoDB, S3, SQS, Secrets Manager, Firehose.

pub mod dynamodb;
pub mod firehose;
pub mod s3;
pub mod secrets_manager;
pub mod sqs;

pub use dynamodb::DynamoState;
pub use firehose::FirehoseLogSink;
pub use s3::S3Blobs;
pub use secrets_manager::SecretsManagerSecrets;
pub use sqs::SqsQueue;

use std::sync::Arc;

use crate::app::Ports;
use crate::clock::{Clock, SystemClock};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    MissingEnv(&'static str),
}

/// The AWS resources the adapters use (the stack's outputs, given to functions as environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResourceNames {
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    pub dlq_url: String,
    /// The packager queue and its DLQ; package builds go to the jobs queue when unset.
    pub packager_queue: Option<(String, String)>,
    pub result_stream: String,
    pub status_stream: String,
    /// Path-style S3 addressing (`<endpoint>/<bucket>/<key>`), for emulators such as moto.
    pub s3_path_style: bool,
}

fn env(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(ConfigError::MissingEnv(name)),
    }
}

impl AwsResourceNames {
    /// From FLOTILLA_TABLE, FLOTILLA_BUCKET, FLOTILLA_QUEUE_URL, FLOTILLA_DLQ_URL,
    /// FLOTILLA_RESULT_STREAM, FLOTILLA_STATUS_STREAM (all required) and
    /// FLOTILLA_PACKAGER_QUEUE_URL and FLOTILLA_PACKAGER_DLQ_URL (optional, together),
    /// FLOTILLA_S3_PATH_STYLE (optional, `1` or `true` for path-style S3).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(AwsResourceNames {
            table: env("FLOTILLA_TABLE")?,
            bucket: env("FLOTILLA_BUCKET")?,
            queue_url: env("FLOTILLA_QUEUE_URL")?,
            dlq_url: env("FLOTILLA_DLQ_URL")?,
            packager_queue: env("FLOTILLA_PACKAGER_QUEUE_URL")
                .ok()
                .zip(env("FLOTILLA_PACKAGER_DLQ_URL").ok()),
            result_stream: env("FLOTILLA_RESULT_STREAM")?,
            status_stream: env("FLOTILLA_STATUS_STREAM")?,
            s3_path_style: matches!(
                std::env::var("FLOTILLA_S3_PATH_STYLE").as_deref(),
                Ok("1" | "true")
            ),
        })
    }
}

/// Builds every port over AWS. The endpoint, region and credentials come from `sdk`
/// (`aws_config::defaults(..).endpoint_url(..)` points it at an emulator).
pub struct AwsPorts;

impl AwsPorts {
    // `AwsPorts` only names the constructor (like `EmbeddedPorts::open`): it builds `Ports`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(sdk: &aws_config::SdkConfig, names: &AwsResourceNames) -> Ports {
        Self::with_clock(sdk, names, Arc::new(SystemClock))
    }

    /// With the clock that decides item expiry (tests pass the `ManualClock` the app uses).
    pub fn with_clock(
        sdk: &aws_config::SdkConfig,
        names: &AwsResourceNames,
        clock: Arc<dyn Clock>,
    ) -> Ports {
        Ports {
            state: Arc::new(DynamoState::new(
                aws_sdk_dynamodb::Client::new(sdk),
                &names.table,
                clock,
            )),
            blobs: Arc::new(S3Blobs::new(
                s3_client(sdk, names.s3_path_style),
                &names.bucket,
                "",
            )),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                &names.queue_url,
                &names.dlq_url,
            )),
            packager_queue: {
                let (queue, dlq) = names
                    .packager_queue
                    .clone()
                    .unwrap_or_else(|| (names.queue_url.clone(), names.dlq_url.clone()));
                Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), queue, dlq))
            },
            secrets: Arc::new(SecretsManagerSecrets::new(
                aws_sdk_secretsmanager::Client::new(sdk),
            )),
            log_sink: Arc::new(FirehoseLogSink::new(
                aws_sdk_firehose::Client::new(sdk),
                &names.result_stream,
                &names.status_stream,
            )),
        }
    }
}

/// An S3 client from `sdk`, path-style when asked.
pub fn s3_client(sdk: &aws_config::SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
