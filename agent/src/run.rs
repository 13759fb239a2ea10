//! The daemon: enroll, then keep osqueryd (and Fleet Desktop) running with the right flags,
//! poll the orbit config every 30 s, keep the desktop token fresh, update osqueryd, the
//! desktop app and itself from TUF, and stop everything cleanly on SIGTERM.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

use crate::desktop;
use crate::device_token::DeviceToken;
use crate::enrollment::Enrollment;
use crate::orbit_api::{ExtensionInfo, OrbitApi, OrbitConfig, UpdateChannels};
use crate::osqueryd::{self, FlagInputs};
use crate::paths;
use crate::settings::Settings;
use crate::supervisor::{self, Launch};
use crate::tls;
use crate::updates::{Component, FailurePolicy, Target, UpdateOutcome, UpdateSettings, Updater};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create the root directory {0}: {1}")]
    RootDir(std::path::PathBuf, std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot start the updated agent {0}: {1}")]
    Reexec(PathBuf, std::io::Error),
}

/// What the orbit config changes on this host.
#[derive(Debug, Default, Clone, PartialEq)]
struct Applied {
    startup_flags: BTreeMap<String, String>,
    channels: Option<UpdateChannels>,
    extensions: BTreeMap<String, ExtensionInfo>,
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
        channels: config.update_channels.clone(),
        extensions: config.wanted_extensions(paths::platform()),
    }
}

#[derive(Debug, Default)]
struct ChildState {
    applied: Applied,
    /// Bumped when an update replaced the binary in place (same path, new bytes).
    osqueryd_revision: u64,
    desktop_revision: u64,
}

/// osqueryd's and the tray app's launches, recomputed from the settings, what the orbit config
/// asks and the binaries' revisions. A launch that changes restarts its process.
struct Children {
    settings: Arc<Settings>,
    state: std::sync::Mutex<ChildState>,
    osqueryd: watch::Sender<Option<Launch>>,
    desktop: watch::Sender<Option<Launch>>,
    /// Wakes the update loop when the server names other channels or extensions.
    wake_updates: tokio::sync::Notify,
}

fn publish(sender: &watch::Sender<Option<Launch>>, wanted: Option<Launch>) {
    sender.send_if_modified(|current| {
        let changed = *current != wanted;
        *current = wanted;
        changed
    });
}

impl Children {
    fn state(&self) -> std::sync::MutexGuard<'_, ChildState> {
        // A poisoned lock only means a panic elsewhere; the state itself stays consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The channel the server asks for, else the command line's.
    fn channel(&self, component: Component) -> String {
        let settings = &self.settings.channels;
        let (asked, own) = {
            let state = self.state();
            let asked = state.applied.channels.as_ref().map(|c| match component {
                Component::Orbit => c.orbit.clone(),
                Component::Osqueryd => c.osqueryd.clone(),
                Component::Desktop => c.desktop.clone(),
            });
            let own = match component {
                Component::Orbit => settings.orbit.clone(),
                Component::Osqueryd => settings.osqueryd.clone(),
                Component::Desktop => settings.desktop.clone(),
            };
            (asked, own)
        };
        asked.filter(|c| !c.is_empty()).unwrap_or(own)
    }

    fn osqueryd_launch(&self) -> Option<Launch> {
        let settings = &self.settings;
        let (flags, revision) = {
            let state = self.state();
            (state.applied.startup_flags.clone(), state.osqueryd_revision)
        };
        // The server's channel once its osqueryd is installed; until then the one already
        // here, so a channel change never stops a running osqueryd.
        let binary = [
            self.channel(Component::Osqueryd),
            settings.channels.osqueryd.clone(),
        ]
        .iter()
        .map(|channel| Component::Osqueryd.local_path(&settings.root, paths::platform(), channel))
        .find(|path| path.is_file())?;
        let autoload = settings.root.extensions_autoload();
        let has_extensions = std::fs::metadata(&autoload).is_ok_and(|m| m.len() > 0);
        let args = osqueryd::flags(&FlagInputs {
            root: &settings.root,
            fleet_url: &settings.fleet_url,
            host_identifier: settings.host_identifier,
            server_certs: settings.osquery_server_certs(),
            client_identity: settings.fleet_tls.client_identity.clone(),
            extensions_autoload: has_extensions.then_some(autoload),
            startup_flags: &flags,
            extra_args: &settings.osqueryd_args,
        });
        Some(Launch {
            binary,
            args,
            env: vec![("ENROLL_SECRET".to_string(), settings.enroll_secret.clone())],
            revision,
        })
    }

    /// Recomputes both launches; only a real change restarts a process.
    fn refresh(&self) {
        publish(&self.osqueryd, self.osqueryd_launch());
        let settings = &self.settings;
        if settings.fleet_desktop && settings.root.device_identifier().is_file() {
            let revision = self.state().desktop_revision;
            let wanted = desktop::launch(settings, &self.channel(Component::Desktop))
                .map(|launch| Launch { revision, ..launch });
            publish(&self.desktop, wanted);
        }
    }

    fn apply(&self, applied: Applied) {
        {
            let mut state = self.state();
            let targets_changed = state.applied.extensions != applied.extensions
                || state.applied.channels != applied.channels;
            state.applied = applied;
            if targets_changed {
                self.wake_updates.notify_one();
            }
        }
        self.sync_extensions();
        self.refresh();
    }

    /// Rewrites `extensions.load` with the wanted extensions that are installed; a change
    /// restarts osqueryd (it reads the list only at start).
    fn sync_extensions(&self) {
        let root = &self.settings.root;
        let wanted = self.state().applied.extensions.clone();
        let listed: String = wanted
            .iter()
            .filter_map(|(name, info)| {
                Target::extension(root, name, &info.platform, &info.channel, &info.file_name)
            })
            .filter(|target| target.local_path.is_file())
            .map(|target| format!("{}\n", target.local_path.display()))
            .collect();
        let file = root.extensions_autoload();
        let current = std::fs::read_to_string(&file).unwrap_or_default();
        if current == listed {
            return;
        }
        match crate::enrollment::write_private(&file, &listed, 0o644) {
            Ok(()) => {
                tracing::info!(
                    extensions = listed.lines().count(),
                    "osquery extensions changed"
                );
                self.state().osqueryd_revision += 1;
            }
            Err(err) => tracing::warn!(%err, "cannot write extensions.load"),
        }
    }

    fn replaced(&self, component: Component) {
        {
            let mut state = self.state();
            match component {
                Component::Osqueryd => state.osqueryd_revision += 1,
                Component::Desktop => state.desktop_revision += 1,
                Component::Orbit => {}
            }
        }
        self.refresh();
    }
}

/// Checks for updates every `interval`; asks for a re-exec when the agent itself was updated.
async fn update_loop(
    mut updater: Updater,
    children: Arc<Children>,
    reexec: watch::Sender<Option<PathBuf>>,
) {
    let settings = children.settings.clone();
    loop {
        let mut components = vec![Component::Osqueryd];
        if settings.fleet_desktop {
            components.push(Component::Desktop);
        }
        components.push(Component::Orbit);
        let extensions = children.state().applied.extensions.clone();
        for (name, info) in extensions {
            let outcome = updater
                .update_extension(&name, &info.platform, &info.channel, &info.file_name)
                .await;
            if let UpdateOutcome::Kept { reason, .. } = outcome {
                tracing::warn!(extension = %name, %reason, "extension update failed");
            }
        }
        children.sync_extensions();
        children.refresh();
        for component in components {
            let channel = children.channel(component);
            match updater.update(component, &channel).await {
                UpdateOutcome::Installed { path, version } => {
                    tracing::info!(%component, %channel, ?version, "update installed");
                    if component == Component::Orbit {
                        let _ = reexec.send(Some(path));
                        return;
                    }
                    children.replaced(component);
                }
                UpdateOutcome::UpToDate { .. } => {
                    tracing::debug!(%component, %channel, "up to date")
                }
                UpdateOutcome::Kept { reason, .. } => {
                    tracing::warn!(%component, %channel, %reason, "update failed; keeping the current version")
                }
                UpdateOutcome::CoolingDown { .. } => {
                    tracing::debug!(%component, "update cooling down after failures")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.update_interval) => {}
            _ = children.wake_updates.notified() => {}
        }
    }
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
    let settings = Arc::new(settings);
    let root = settings.root.clone();
    std::fs::create_dir_all(root.path())
        .map_err(|e| RunError::RootDir(root.path().to_path_buf(), e))?;
    let http = tls::http_client(&settings.fleet_tls)?;
    let api = OrbitApi::new(http, &settings.fleet_url);

    let installed =
        Component::Osqueryd.local_path(&root, paths::platform(), &settings.channels.osqueryd);
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
    let (osqueryd_tx, osqueryd_rx) = watch::channel(None);
    let (desktop_tx, desktop_rx) = watch::channel(None);
    let children = Arc::new(Children {
        settings: settings.clone(),
        state: std::sync::Mutex::new(ChildState::default()),
        osqueryd: osqueryd_tx,
        desktop: desktop_tx,
        wake_updates: tokio::sync::Notify::new(),
    });
    children.refresh();
    let mut tasks = vec![tokio::spawn(supervisor::supervise(
        "osqueryd",
        osqueryd_rx,
        shutdown_rx.clone(),
    ))];
    let mut background = Vec::new();
    if settings.fleet_desktop {
        tasks.push(tokio::spawn(supervisor::supervise(
            "fleet-desktop",
            desktop_rx,
            shutdown_rx.clone(),
        )));
        background.push(tokio::spawn(
            DeviceToken::new(enrollment.clone(), root.device_identifier()).run(),
        ));
    }
    let (reexec_tx, mut reexec_rx) = watch::channel(None);
    match (&settings.update_root, settings.updates_enabled) {
        (Some(trusted_root), true) => {
            let updater = Updater::new(UpdateSettings {
                root: root.clone(),
                update_url: settings.update_url.clone(),
                trusted_root: trusted_root.clone(),
                tls: settings.update_tls.clone(),
                platform: paths::platform().to_string(),
                failure_policy: FailurePolicy::default(),
            });
            background.push(tokio::spawn(update_loop(
                updater,
                children.clone(),
                reexec_tx,
            )));
        }
        (None, _) if !settings.updates_enabled => {}
        _ => tracing::warn!(
            "updates are off: no trusted TUF root (--update-roots, or one built into the agent)"
        ),
    }

    let stop = stop_requested();
    tokio::pin!(stop);
    let reexec = loop {
        let config = enrollment
            .call(|key| {
                let api = api.clone();
                async move { api.config(&key).await }
            })
            .await;
        match config {
            Ok(config) => children.apply(applied(&config)),
            Err(err) => {
                tracing::warn!(%err, "orbit config failed; retrying");
                // The app may be installed, or a user log in, meanwhile.
                children.refresh();
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.config_interval) => {}
            _ = reexec_rx.changed() => break reexec_rx.borrow().clone(),
            _ = &mut stop => break None,
        }
    };
    tracing::info!("stopping");
    let _ = shutdown_tx.send(true);
    for task in background {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    match reexec {
        Some(binary) => Err(reexec_into(&binary)),
        None => Ok(()),
    }
}

/// Replaces this process with the updated agent, same arguments. Answers only on failure
/// (then the service manager restarts the old binary, which tries again later).
fn reexec_into(binary: &std::path::Path) -> RunError {
    tracing::info!(binary = %binary.display(), "restarting into the updated agent");
    let mut command = std::process::Command::new(binary);
    command.args(std::env::args_os().skip(1));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        RunError::Reexec(binary.to_path_buf(), command.exec())
    }
    #[cfg(not(unix))]
    {
        // No exec on Windows: start the new agent and leave (the service manager's job).
        match command.spawn() {
            Ok(_) => std::process::exit(0),
            Err(err) => RunError::Reexec(binary.to_path_buf(), err),
        }
    }
}
