//! The Lambda entry point every function binary calls with its group.

use crate::adapters::aws::{AwsPorts, AwsResourceNames};
use crate::api::{router, Group};
use crate::app::{App, Settings};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("missing environment variable {0}")]
    MissingEnv(&'static str),
    #[error(transparent)]
    Resources(#[from] crate::adapters::aws::ConfigError),
}

/// Builds the application over the AWS adapters named by the function's environment.
pub async fn app_from_env() -> Result<App, StartupError> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let names = AwsResourceNames::from_env()?;
    let admin_token_secret = std::env::var("FLOTILLA_ADMIN_TOKEN_SECRET")
        .map_err(|_| StartupError::MissingEnv("FLOTILLA_ADMIN_TOKEN_SECRET"))?;
    Ok(App::new(
        AwsPorts::new(&sdk, &names),
        Settings { admin_token_secret },
    ))
}

/// Serves `groups` on the Lambda runtime until it shuts the instance down.
pub async fn run(groups: &[Group]) -> Result<(), lambda_http::Error> {
    crate::telemetry::init(true);
    let app = app_from_env().await?;
    lambda_http::run(router(app, groups)).await
}
