//! Secrets given at start-up (the local server reads them from its environment and files).

use async_trait::async_trait;
use std::collections::HashMap;

use crate::ports::{SecretError, SecretStore};

/// A fixed name -> value map. Its `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct StaticSecrets {
    values: HashMap<String, String>,
}

impl StaticSecrets {
    pub fn new(values: HashMap<String, String>) -> Self {
        StaticSecrets { values }
    }
}

impl std::fmt::Debug for StaticSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.values.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("StaticSecrets")
            .field("names", &names)
            .finish()
    }
}

#[async_trait]
impl SecretStore for StaticSecrets {
    async fn get(&self, name: &str) -> Result<String, SecretError> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| SecretError::NotFound(name.to_string()))
    }
}
