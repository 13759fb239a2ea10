//! Keeps one child process running (osqueryd, Fleet Desktop): restarted with backoff when it
//! dies, restarted when what it is launched with changes, stopped with SIGTERM (then SIGKILL
//! after a grace period) when the agent stops.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::watch;

const FIRST_RESTART: Duration = Duration::from_secs(1);
const LONGEST_RESTART: Duration = Duration::from_secs(60);
/// A run this long resets the backoff: the crash was not a crash loop.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Everything a child is started with. A new value restarts it. No Debug: `env` holds the
/// enroll secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Launch {
    pub binary: PathBuf,
    pub args: Vec<String>,
    /// Names and values; values may be secret (`ENROLL_SECRET`): never log them.
    pub env: Vec<(String, String)>,
    /// Bumped when an update replaced the binary at the same path, to restart it.
    pub revision: u64,
}

fn start(launch: &Launch) -> std::io::Result<Child> {
    let mut command = Command::new(&launch.binary);
    command
        .args(&launch.args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in &launch.env {
        command.env(name, value);
    }
    command.spawn()
}

/// SIGTERM, then SIGKILL if it is still running after the grace period.
async fn stop(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

/// Keeps `name` running as `launch` says until `shutdown` turns true. `None` means there is
/// nothing to run yet (not installed, no desktop session): the agent keeps running and says so.
pub async fn supervise(
    name: &'static str,
    mut launch: watch::Receiver<Option<Launch>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = FIRST_RESTART;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let current = launch.borrow_and_update().clone();
        let Some(current) = current else {
            tracing::warn!(process = name, "nothing to run yet; waiting");
            tokio::select! {
                _ = launch.changed() => continue,
                _ = shutdown.changed() => continue,
            }
        };
        let started = Instant::now();
        let mut child = match start(&current) {
            Ok(child) => child,
            Err(err) => {
                tracing::error!(process = name, %err, binary = %current.binary.display(), retry_in = ?backoff, "cannot start");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = launch.changed() => {}
                    _ = shutdown.changed() => {}
                }
                backoff = (backoff * 2).min(LONGEST_RESTART);
                continue;
            }
        };
        tracing::info!(process = name, pid = child.id(), "started");
        tokio::select! {
            status = child.wait() => {
                if started.elapsed() >= HEALTHY_RUN {
                    backoff = FIRST_RESTART;
                }
                tracing::warn!(process = name, status = ?status.ok(), restart_in = ?backoff, "exited");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => {}
                }
                backoff = (backoff * 2).min(LONGEST_RESTART);
            }
            _ = launch.changed() => {
                tracing::info!(process = name, "launch changed: restarting");
                stop(&mut child).await;
                backoff = FIRST_RESTART;
            }
            _ = shutdown.changed() => {
                tracing::info!(process = name, "stopping");
                stop(&mut child).await;
                return;
            }
        }
    }
}
