//! The daemon: enroll, then keep osqueryd running with the right flags, poll the orbit config
//! every 30 s, keep the Fleet Desktop token fresh, and stop everything cleanly on SIGTERM.

use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

use crate::desktop;
use crate::device_token::DeviceToken;
use crate::enrollment::Enrollment;
use crate::orbit_api::{OrbitApi, OrbitConfig};
use crate::osqueryd::{self, FlagInputs};
use crate::paths::{self, RootDir};
use crate::settings::Settings;
use crate::supervisor::{self, Launch};
use crate::tls;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create the root directory {0}: {1}")]
    RootDir(std::path::PathBuf, std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Where the installed osqueryd of a channel is (`bin/osqueryd/<platform>/<channel>/...`).
pub fn osqueryd_path(root: &RootDir, channel: &str) -> std::path::PathBuf {
    let file = if cfg!(windows) {
        "osqueryd.exe"
    } else {
        "osqueryd"
    };
    root.bin()
        .join("osqueryd")
        .join(paths::platform())
        .join(channel)
        .join(file)
}

/// What the orbit config changes on this host.
#[derive(Debug, Default, Clone, PartialEq)]
struct Applied {
    startup_flags: BTreeMap<String, String>,
    osqueryd_channel: Option<String>,
}

fn applied(config: &OrbitConfig) -> Applied {
    let startup_flags = config
        .command_line_startup_flags
        .iter()
        .flatten()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), value)
        })
        .collect();
    Applied {
        startup_flags,
        osqueryd_channel: config
            .update_channels
            .as_ref()
            .map(|channels| channels.osqueryd.clone())
            .filter(|channel| !channel.is_empty()),
    }
}

fn launch(settings: &Settings, applied: &Applied) -> Option<Launch> {
    // The server's channel once its osqueryd is installed; until then the one already here,
    // so a channel change never stops a running osqueryd.
    let binary = applied
        .osqueryd_channel
        .iter()
        .chain(std::iter::once(&settings.channels.osqueryd))
        .map(|channel| osqueryd_path(&settings.root, channel))
        .find(|path| path.is_file())?;
    let args = osqueryd::flags(&FlagInputs {
        root: &settings.root,
        fleet_url: &settings.fleet_url,
        host_identifier: settings.host_identifier,
        server_certs: settings.osquery_server_certs(),
        client_identity: settings.fleet_tls.client_identity.clone(),
        startup_flags: &applied.startup_flags,
        extra_args: &settings.osqueryd_args,
    });
    Some(Launch {
        binary,
        args,
        env: vec![("ENROLL_SECRET".to_string(), settings.enroll_secret.clone())],
    })
}

/// Resolves when the agent is asked to stop (SIGTERM or Ctrl-C).
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn run(settings: Settings) -> Result<(), RunError> {
    let root = settings.root.clone();
    std::fs::create_dir_all(root.path())
        .map_err(|e| RunError::RootDir(root.path().to_path_buf(), e))?;
    let http = tls::http_client(&settings.fleet_tls)?;
    let api = OrbitApi::new(http, &settings.fleet_url);

    let installed = osqueryd_path(&root, &settings.channels.osqueryd);
    let facts = crate::host_facts::gather(
        installed.is_file().then_some(installed.as_path()),
        &root.osquery_database(),
    )
    .await;
    let enrollment = Arc::new(Enrollment::new(
        api.clone(),
        settings.enroll_secret.clone(),
        facts,
        settings.host_identifier == crate::cli::HostIdentifier::Instance,
        root.orbit_node_key(),
    ));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut applied_now = Applied::default();
    let (launch_tx, launch_rx) = watch::channel(launch(&settings, &applied_now));
    let osqueryd_task = tokio::spawn(supervisor::supervise(
        "osqueryd",
        launch_rx,
        shutdown_rx.clone(),
    ));
    let token_loop = settings.fleet_desktop.then(|| {
        tokio::spawn(DeviceToken::new(enrollment.clone(), root.device_identifier()).run())
    });
    let (desktop_tx, desktop_rx) = watch::channel(None);
    let desktop = settings.fleet_desktop.then(|| {
        tokio::spawn(supervisor::supervise(
            "fleet-desktop",
            desktop_rx,
            shutdown_rx.clone(),
        ))
    });

    let stop = stop_requested();
    tokio::pin!(stop);
    loop {
        let config = enrollment
            .call(|key| {
                let api = api.clone();
                async move { api.config(&key).await }
            })
            .await;
        match config {
            Ok(config) => {
                let next = applied(&config);
                if next != applied_now {
                    applied_now = next;
                    // `send_if_modified`: only a real change of flags or binary restarts osqueryd.
                    let wanted = launch(&settings, &applied_now);
                    launch_tx.send_if_modified(|current| {
                        let changed = *current != wanted;
                        *current = wanted.clone();
                        changed
                    });
                }
            }
            Err(err) => tracing::warn!(%err, "orbit config failed; retrying"),
        }
        if settings.fleet_desktop && root.device_identifier().is_file() {
            // Re-checked every round: the app may be installed, or a user log in, later.
            let wanted = desktop::launch(&settings, &settings.channels.desktop);
            desktop_tx.send_if_modified(|current| {
                let changed = *current != wanted;
                *current = wanted;
                changed
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.config_interval) => {}
            _ = &mut stop => break,
        }
    }
    tracing::info!("stopping");
    let _ = shutdown_tx.send(true);
    if let Some(token_loop) = token_loop {
        token_loop.abort();
    }
    let _ = osqueryd_task.await;
    if let Some(desktop) = desktop {
        let _ = desktop.await;
    }
    Ok(())
}
