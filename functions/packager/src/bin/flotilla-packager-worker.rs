//! The `packager-worker` Lambda: SQS hands it package builds from the packager queue (the same
//! job handler as the jobs function, with the memory, time and disk a build needs).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flotilla::lambda::run_jobs().await
}
