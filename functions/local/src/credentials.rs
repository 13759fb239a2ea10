//! The local server's own credentials: the seeded global enroll secret and the admin token.
//! Taken from FLOTILLA_ENROLL_SECRET / FLOTILLA_ADMIN_TOKEN when set, otherwise generated
//! once and kept in `<data-dir>/credentials.json` (mode 0600) so restarts keep them.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

use flotilla::domain::credentials::random_secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalCredentials {
    pub enroll_secret: String,
    pub admin_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid credentials JSON: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Which credentials were generated (and so must be shown to the operator).
pub struct Loaded {
    pub credentials: LocalCredentials,
    pub generated_now: bool,
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn load(data_dir: &Path) -> Result<Loaded, CredentialsError> {
    let path = data_dir.join("credentials.json");
    let stored: Option<LocalCredentials> =
        match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|source| {
                CredentialsError::Corrupt {
                    path: path.clone(),
                    source,
                }
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(CredentialsError::Io { path, source }),
        };
    let generated_now = stored.is_none();
    let stored = stored.unwrap_or_else(|| LocalCredentials {
        enroll_secret: random_secret(),
        admin_token: random_secret(),
    });
    if generated_now {
        let body =
            serde_json::to_vec_pretty(&stored).map_err(|source| CredentialsError::Corrupt {
                path: path.clone(),
                source,
            })?;
        write_private(&path, &body)?;
    }
    // The environment wins over the file, without rewriting it.
    let credentials = LocalCredentials {
        enroll_secret: env_value("FLOTILLA_ENROLL_SECRET").unwrap_or(stored.enroll_secret),
        admin_token: env_value("FLOTILLA_ADMIN_TOKEN").unwrap_or(stored.admin_token),
    };
    Ok(Loaded {
        credentials,
        generated_now,
    })
}

/// The key of the packager's keyed argument hash, made on first use and kept in the data dir.
pub fn packager_key(data_dir: &Path) -> Result<String, CredentialsError> {
    let path = data_dir.join("packager.key");
    match std::fs::read_to_string(&path) {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim().to_string()),
        Ok(_) => Err(CredentialsError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "empty key file"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random_secret();
            write_private(&path, key.as_bytes())?;
            Ok(key)
        }
        Err(source) => Err(CredentialsError::Io { path, source }),
    }
}

fn write_private(path: &Path, body: &[u8]) -> Result<(), CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(body).map_err(io)?;
    file.sync_all().map_err(io)
}
