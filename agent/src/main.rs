//! flotilla-agent: the binary. All behaviour lives in the library (`agent::run`).

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = agent::cli::Cli::parse();
    let filter = if cli.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = match agent::settings::Settings::from_cli(&cli) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("flotilla-agent: {err}");
            return ExitCode::from(2);
        }
    };
    match agent::run::run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "flotilla-agent stopped");
            ExitCode::FAILURE
        }
    }
}
