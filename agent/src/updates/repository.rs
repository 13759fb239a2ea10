//! Loading the update repository with tough: the trusted root, metadata at the update URL's
//! root and targets under `targets/` (Fleet's layout, also go-tuf's default), the datastore
//! under `<root>/tuf`, and our own HTTP client as transport.

use super::error::UpdateError;
use super::transport::HttpClientTransport;
use super::UpdateSettings;
use crate::tls;
use tough::{Repository, RepositoryLoader};
use url::Url;

/// tough's record of the newest clock reading it has seen, in the datastore.
const LATEST_KNOWN_TIME: &str = "latest_known_time.json";

/// The metadata URL (always ending in `/`, so joins stay under it) and the targets URL.
pub(crate) fn repository_urls(update_url: &str) -> Result<(Url, Url), UpdateError> {
    let invalid = |source| UpdateError::Url {
        url: update_url.to_owned(),
        source,
    };
    let mut metadata = Url::parse(update_url).map_err(invalid)?;
    if !metadata.path().ends_with('/') {
        let path = format!("{}/", metadata.path());
        metadata.set_path(&path);
    }
    let targets = metadata.join("targets/").map_err(invalid)?;
    Ok((metadata, targets))
}

pub(crate) async fn load(settings: &UpdateSettings) -> Result<Repository, UpdateError> {
    let (metadata_url, targets_url) = repository_urls(&settings.update_url)?;
    // Built per load so a rotated update client certificate or CA bundle on disk is picked up
    // without restarting the agent.
    let client = tls::http_client(&settings.tls)?;
    let datastore = settings.root.tuf_datastore();
    tokio::fs::create_dir_all(&datastore)
        .await
        .map_err(UpdateError::io("cannot create", &datastore))?;

    let loaded = RepositoryLoader::new(&settings.trusted_root, metadata_url, targets_url)
        .transport(HttpClientTransport::new(client))
        .datastore(&datastore)
        .load()
        .await;
    match loaded {
        Ok(repository) => Ok(repository),
        Err(error) => {
            if let tough::error::Error::SystemTimeSteppedBackward { .. } = &error {
                // tough refuses to load while the clock is behind the newest time it has seen.
                // A host whose clock once ran far ahead (a dead RTC battery, a bad NTP answer)
                // would then never update again until that date. Forgetting the reading lets the
                // next attempt proceed; expiry is still checked against the current clock, and
                // the stored metadata versions still refuse anything older than already seen.
                let stale = datastore.join(LATEST_KNOWN_TIME);
                match tokio::fs::remove_file(&stale).await {
                    Ok(()) => tracing::warn!(
                        path = %stale.display(),
                        "the clock stepped backward since the last update check; \
                         forgot the last known time so the next check can proceed"
                    ),
                    Err(e) => tracing::warn!(
                        path = %stale.display(),
                        error = %e,
                        "the clock stepped backward and the last known time cannot be removed"
                    ),
                }
            }
            Err(UpdateError::Repository(Box::new(error)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_at_the_url_root_targets_below_it() {
        for (update_url, metadata, targets) in [
            (
                "https://tuf.fleetctl.com",
                "https://tuf.fleetctl.com/",
                "https://tuf.fleetctl.com/targets/",
            ),
            (
                "https://updates.example.com/repo",
                "https://updates.example.com/repo/",
                "https://updates.example.com/repo/targets/",
            ),
            (
                "http://127.0.0.1:8080/repo/",
                "http://127.0.0.1:8080/repo/",
                "http://127.0.0.1:8080/repo/targets/",
            ),
        ] {
            let (m, t) = repository_urls(update_url).expect("valid URL");
            assert_eq!(m.as_str(), metadata);
            assert_eq!(t.as_str(), targets);
        }
        assert!(matches!(
            repository_urls("not a url"),
            Err(UpdateError::Url { .. })
        ));
    }
}
