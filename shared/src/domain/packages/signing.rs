//! Signing a built .pkg with the deployment's Developer ID Installer identity, read from the
//! secret store for each build (never logged, never written outside the build's scratch).

use packager::pkg::sign::{self, SigningIdentity};
use url::Url;

use super::build::{secret, BuildFailure, Built, Step};
use crate::app::AppInner;

/// Signs `built` into `scratch/signed/`, returning the signed file (same name).
pub async fn sign_file(
    app: &AppInner,
    built: Built,
    scratch: &std::path::Path,
    log: &mut Vec<String>,
) -> Result<Built, Step> {
    let settings = &app.settings.packager;
    let Some(name) = &settings.signing_secret else {
        return Ok(built);
    };
    let pem = secret(app, name, "signing identity").await?;
    let failed = |e: String| Step::Failed(BuildFailure::Sign(e));
    let identity = SigningIdentity::from_pem(&pem).map_err(|e| failed(e.to_string()))?;
    drop(pem);
    let timestamp = match &settings.timestamp_url {
        Some(url) => {
            Some(Url::parse(url).map_err(|e| failed(format!("time-stamp URL {url}: {e}")))?)
        }
        None => None,
    };
    let dir = scratch.join("signed");
    std::fs::create_dir_all(&dir).map_err(|e| Step::Failed(BuildFailure::Scratch(e)))?;
    let signed = dir.join(&built.file_name);
    let subject = identity.subject();
    let input = built.path.clone();
    let output = signed.clone();
    tokio::task::spawn_blocking(move || sign::sign(&identity, timestamp.as_ref(), &input, &output))
        .await
        .map_err(|e| failed(format!("signer stopped: {e}")))?
        .map_err(|e| failed(e.to_string()))?;
    log.push(format!("signed by {subject:?}"));
    tracing::info!(signer = %subject, "package signed");
    Ok(Built {
        path: signed,
        file_name: built.file_name,
    })
}
