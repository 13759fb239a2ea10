//! The keyed hash that finds an unexpired package with the same arguments. Keyed (HMAC with a
//! key from the secret store), so that the table never holds anything from which the enroll
//! secret could be guessed offline.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::request::PackageArgs;
use crate::app::AppInner;
use crate::error::ApiError;

pub async fn hash(app: &AppInner, args: &PackageArgs) -> Result<String, ApiError> {
    let key = app
        .ports
        .secrets
        .get(&app.settings.packager.key_secret)
        .await?;
    let canonical = serde_json::to_vec(args).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    mac.update(&canonical);
    Ok(hex::encode(mac.finalize().into_bytes()))
}
