//! The secrets port: named credentials (Secrets Manager on AWS, environment or a file locally).

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} not found")]
    NotFound(String),
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The current value of the secret called `name`. Adapters cache values per instance.
    async fn get(&self, name: &str) -> Result<String, SecretError>;
}
