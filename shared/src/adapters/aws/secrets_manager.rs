//! Secrets from AWS Secrets Manager, cached per instance.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;
use std::time::Duration;

use crate::ports::{SecretError, SecretStore};

/// How long a fetched value is used before it is fetched again: rotation reaches every warm
/// instance within this time, and each instance calls Secrets Manager at most this often.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(300);

/// The Secrets Manager `SecretStore`: `name` is the secret's name or ARN.
#[derive(Clone)]
pub struct SecretsManagerSecrets {
    client: Client,
    cache: moka::sync::Cache<String, String>,
}

impl std::fmt::Debug for SecretsManagerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the cached values.
        f.debug_struct("SecretsManagerSecrets")
            .finish_non_exhaustive()
    }
}

impl SecretsManagerSecrets {
    pub fn new(client: Client) -> Self {
        Self::with_ttl(client, SECRET_CACHE_TTL)
    }

    pub fn with_ttl(client: Client, ttl: Duration) -> Self {
        SecretsManagerSecrets {
            client,
            cache: moka::sync::Cache::builder()
                .max_capacity(64)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerSecrets {
    async fn get(&self, name: &str) -> Result<String, SecretError> {
        if let Some(value) = self.cache.get(name) {
            return Ok(value);
        }
        let got = self.client.get_secret_value().secret_id(name).send().await;
        let value = match got {
            Ok(out) => out.secret_string.ok_or_else(|| {
                SecretError::Unavailable(format!("secret {name} has no string value"))
            })?,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Err(SecretError::NotFound(name.to_string()));
            }
            // The SDK's errors carry the request, never the secret's value.
            Err(e) => {
                return Err(SecretError::Unavailable(format!(
                    "Secrets Manager GetSecretValue {name}: {}",
                    DisplayErrorContext(&e)
                )))
            }
        };
        self.cache.insert(name.to_string(), value.clone());
        Ok(value)
    }
}
