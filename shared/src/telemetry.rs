//! Logging setup: JSON lines on Lambda (CloudWatch parses them), human-readable locally.

use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // try_init: tests and benchmarks may call this more than once per process.
    let _ = if json {
        builder
            .json()
            .with_current_span(false)
            .without_time() // CloudWatch stamps each line
            .try_init()
    } else {
        builder.try_init()
    };
}
