//! The `jobs` Lambda: SQS hands it batches of queue messages (carve assembly, ...).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flotilla::lambda::run_jobs().await
}
