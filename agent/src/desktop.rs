//! Fleet Desktop, the tray app: where it is installed, the environment it expects (the names
//! Fleet's orbit sets), and the user it runs as. The agent runs as root; the tray app must
//! run in the logged-in user's graphical session, so on Linux it is started through
//! `runuser` for the active graphical session's user (none: it waits for one).

use std::path::PathBuf;

use crate::paths::{self, RootDir};
use crate::settings::Settings;
use crate::supervisor::Launch;

/// The installed app: `bin/desktop/<platform>/<channel>/...` (the Linux and macOS targets are
/// archives the updater unpacks there).
pub fn executable(root: &RootDir, channel: &str) -> PathBuf {
    let dir = root
        .bin()
        .join("desktop")
        .join(paths::platform())
        .join(channel);
    if cfg!(target_os = "macos") {
        dir.join("Fleet Desktop.app/Contents/MacOS/fleet-desktop")
    } else if cfg!(windows) {
        dir.join("fleet-desktop.exe")
    } else {
        dir.join("fleet-desktop/fleet-desktop")
    }
}

/// The environment Fleet Desktop reads.
pub fn environment(settings: &Settings) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "FLEET_DESKTOP_FLEET_URL".to_string(),
            settings.fleet_url.clone(),
        ),
        (
            "FLEET_DESKTOP_DEVICE_IDENTIFIER_PATH".to_string(),
            settings.root.device_identifier().display().to_string(),
        ),
    ];
    if let Some(host) = &settings.desktop_browser_host {
        env.push((
            "FLEET_DESKTOP_ALTERNATIVE_BROWSER_HOST".to_string(),
            host.clone(),
        ));
    }
    if let Some(ca) = &settings.fleet_tls.extra_roots {
        env.push((
            "FLEET_DESKTOP_FLEET_ROOT_CA".to_string(),
            ca.display().to_string(),
        ));
    }
    if settings.fleet_tls.insecure {
        env.push(("FLEET_DESKTOP_INSECURE".to_string(), "1".to_string()));
    }
    // Fleet passes the PEM contents, not the paths: the user cannot read root's files.
    if let Some((certificate, key)) = &settings.fleet_tls.client_identity {
        if let (Ok(certificate), Ok(key)) = (
            std::fs::read_to_string(certificate),
            std::fs::read_to_string(key),
        ) {
            env.push((
                "FLEET_DESKTOP_FLEET_TLS_CLIENT_CERTIFICATE".to_string(),
                certificate,
            ));
            env.push(("FLEET_DESKTOP_FLEET_TLS_CLIENT_KEY".to_string(), key));
        }
    }
    env
}

/// The user of the active local graphical session, from logind.
#[cfg(target_os = "linux")]
fn graphical_session_user() -> Option<(String, u32, String)> {
    let output = |args: &[&str]| {
        std::process::Command::new("loginctl")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    for line in output(&["list-sessions", "--no-legend"])?.lines() {
        let Some(id) = line.split_whitespace().next() else {
            continue;
        };
        let props = output(&[
            "show-session",
            id,
            "-p",
            "Name",
            "-p",
            "User",
            "-p",
            "Type",
            "-p",
            "Active",
            "-p",
            "Remote",
            "-p",
            "Display",
        ])?;
        let prop = |name: &str| {
            props
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_default()
                .to_string()
        };
        let graphical = matches!(prop("Type").as_str(), "x11" | "wayland");
        if graphical && prop("Active") == "yes" && prop("Remote") != "yes" {
            let uid = prop("User").parse().ok()?;
            return Some((prop("Name"), uid, prop("Display")));
        }
    }
    None
}

/// How to start the app: directly when the agent is not root (a developer's run), else as
/// the graphical session's user. `None` while nobody is logged in graphically.
pub fn launch(settings: &Settings, channel: &str) -> Option<Launch> {
    let binary = executable(&settings.root, channel);
    if !binary.is_file() {
        return None;
    }
    let env = environment(settings);
    #[cfg(target_os = "linux")]
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let (user, uid, display) = graphical_session_user()?;
        let mut env = env;
        env.push(("XDG_RUNTIME_DIR".to_string(), format!("/run/user/{uid}")));
        env.push((
            "DBUS_SESSION_BUS_ADDRESS".to_string(),
            format!("unix:path=/run/user/{uid}/bus"),
        ));
        if !display.is_empty() {
            env.push(("DISPLAY".to_string(), display));
        }
        // runuser keeps the environment it is given (no login shell).
        let mut args = vec!["-u".to_string(), user, "--".to_string()];
        args.push(binary.display().to_string());
        return Some(Launch {
            binary: PathBuf::from("runuser"),
            args,
            env,
            revision: 0,
        });
    }
    Some(Launch {
        binary,
        args: Vec::new(),
        env,
        revision: 0,
    })
}
