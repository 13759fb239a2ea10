//! AWS for tests, emulated by moto: finds (or starts) one moto server per test process and
//! provisions fresh, uniquely named resources for each caller, laid out as template.yaml lays
//! them out, so tests run in parallel without resetting moto.
//!
//! Each caller also gets an AWS account of its own (moto switches accounts on STS AssumeRole
//! into another account's role): moto enforces per-account quotas, such as 50 Firehose
//! delivery streams per region, that a test run sharing one account would exhaust.
//!
//! The server: `FLOTILLA_TEST_MOTO_ENDPOINT` (tests/run sets it); otherwise `moto_server` from
//! `<workspace>/.venv/bin` or `PATH` is started on a free port and stopped when this process
//! ends. Without either the tests fail: they never skip silently.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_firehose::types::{
    CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

use flotilla::adapters::aws::{AwsPorts, AwsResourceNames};
use flotilla::clock::ManualClock;
use flotilla::Ports;

pub const ENDPOINT_ENV: &str = "FLOTILLA_TEST_MOTO_ENDPOINT";
/// The maxReceiveCount of the provisioned queue's RedrivePolicy.
pub const MAX_RECEIVE_COUNT: u32 = 5;

static ENDPOINT: OnceCell<String> = OnceCell::const_new();
/// The watchdog of a server this process started (kept so that it is not a detached child).
static WATCHDOG: std::sync::Mutex<Option<std::process::Child>> = std::sync::Mutex::new(None);

/// The moto endpoint, starting a server on first use if none is given.
pub async fn endpoint() -> String {
    ENDPOINT
        .get_or_init(|| async {
            match std::env::var(ENDPOINT_ENV) {
                Ok(endpoint) if !endpoint.is_empty() => endpoint,
                _ => start_server().await,
            }
        })
        .await
        .clone()
}

fn moto_binary() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.is_file())
    })
}

async fn start_server() -> String {
    let Some(binary) = moto_binary() else {
        panic!("moto is required: run tests/run (it installs moto[server]), or set {ENDPOINT_ENV}");
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free local port")
        .port();
    let log = std::env::temp_dir().join(format!("flotilla-moto-{port}.log"));
    // A watchdog shell owns the server and stops it once this test process is gone (statics
    // are never dropped, so nothing in-process could).
    let script = r#"moto="$1"; port="$2"; parent="$3"; log="$4"
"$moto" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
server=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 1; done
kill "$server" 2>/dev/null"#;
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("moto-watchdog")
        .arg(&binary)
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    *WATCHDOG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(watchdog);
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if answers(port).await {
            return endpoint;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    panic!("moto_server did not answer on {endpoint} within 30 s; its log:\n{output}");
}

/// True once the server answers HTTP (any status).
async fn answers(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut head)).await,
        Ok(Ok(_)) if head.starts_with(b"HTTP/1.")
    )
}

/// An SDK config for moto's default account: static test credentials, us-east-1, moto's
/// endpoint.
pub async fn sdk_config() -> SdkConfig {
    let endpoint = endpoint().await;
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "flotilla-tests",
        ))
        .load()
        .await
}

/// An SDK config for a new, empty moto account (a random 12-digit id).
pub async fn fresh_account_sdk_config() -> SdkConfig {
    let base = sdk_config().await;
    let account = rand::random::<u64>() % 900_000_000_000 + 100_000_000_000;
    let role = format!("arn:aws:iam::{account}:role/flotilla-tests");
    let credentials = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("flotilla-tests")
        .configure(&base)
        .build()
        .await;
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint().await)
        .credentials_provider(credentials)
        .load()
        .await
}

/// An S3 client for moto (path-style addressing).
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    flotilla::adapters::aws::s3_client(sdk, true)
}

fn suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Creates the table of template.yaml: pk/sk, the gsi1 index (projecting `ttl`), TTL on `ttl`.
pub async fn create_table(sdk: &SdkConfig, table: &str) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .expect("key schema")
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name("gsi1")
        .key_schema(key("gsi1pk", KeyType::Hash))
        .key_schema(key("gsi1sk", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes("ttl")
                .build(),
        )
        .build()
        .expect("gsi1");
    ddb.create_table()
        .table_name(table)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .attribute_definitions(attribute("gsi1pk"))
        .attribute_definitions(attribute("gsi1sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(index)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table in moto");
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .expect("ttl spec"),
        )
        .send()
        .await
        .expect("enable TTL in moto");
}

/// Creates the dead-letter queue and the queue redriving to it; returns (queue, dlq) URLs.
pub async fn create_queues(sdk: &SdkConfig, name: &str) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("create DLQ in moto")
        .queue_url
        .expect("DLQ url");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("DLQ attributes")
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .expect("DLQ arn");
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
    });
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .expect("create queue in moto")
        .queue_url
        .expect("queue url");
    (queue_url, dlq_url)
}

/// Creates a Direct PUT delivery stream into `bucket` under `prefix`, GZIP.
pub async fn create_stream(sdk: &SdkConfig, name: &str, bucket: &str, prefix: &str) {
    let destination = ExtendedS3DestinationConfiguration::builder()
        .role_arn("arn:aws:iam::123456789012:role/flotilla-firehose")
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .prefix(prefix)
        .compression_format(CompressionFormat::Gzip)
        .build()
        .expect("S3 destination");
    aws_sdk_firehose::Client::new(sdk)
        .create_delivery_stream()
        .delivery_stream_name(name)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(destination)
        .send()
        .await
        .expect("create delivery stream in moto");
}

/// Fresh resources in a fresh moto account (table, bucket, queue + DLQ, two delivery
/// streams) and an SDK config pointing at them.
pub async fn moto_aws() -> (SdkConfig, AwsResourceNames) {
    let sdk = fresh_account_sdk_config().await;
    let name = format!("flotilla-{}", suffix());
    let names = AwsResourceNames {
        table: name.clone(),
        bucket: name.clone(),
        queue_url: String::new(),
        dlq_url: String::new(),
        packager_queue: None,
        result_stream: format!("{name}-result"),
        status_stream: format!("{name}-status"),
        s3_path_style: true,
    };
    s3_client(&sdk)
        .create_bucket()
        .bucket(&names.bucket)
        .send()
        .await
        .expect("create bucket in moto");
    let ((), (queue_url, dlq_url), (), ()) = tokio::join!(
        create_table(&sdk, &names.table),
        create_queues(&sdk, &name),
        create_stream(&sdk, &names.result_stream, &names.bucket, "logs/result/"),
        create_stream(&sdk, &names.status_stream, &names.bucket, "logs/status/"),
    );
    (
        sdk,
        AwsResourceNames {
            queue_url,
            dlq_url,
            ..names
        },
    )
}

/// The AWS ports over fresh moto resources, with handles to look behind them.
pub struct MotoEnv {
    pub ports: Ports,
    pub sdk: SdkConfig,
    pub names: AwsResourceNames,
    /// For reading back what the adapters wrote (blobs, Firehose deliveries).
    pub s3: aws_sdk_s3::Client,
    /// The clock the state store judges expiry by.
    pub clock: Arc<ManualClock>,
    /// A secret created in moto: (name, value).
    pub secret: (String, String),
}

pub async fn moto_ports() -> MotoEnv {
    let (sdk, names) = moto_aws().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let secret = (format!("admin-token-{}", suffix()), suffix());
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(&secret.0)
        .secret_string(&secret.1)
        .send()
        .await
        .expect("create secret in moto");
    MotoEnv {
        ports: AwsPorts::with_clock(&sdk, &names, clock.clone()),
        s3: s3_client(&sdk),
        sdk,
        names,
        clock,
        secret,
    }
}
