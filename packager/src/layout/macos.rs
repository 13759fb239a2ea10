//! The macOS tree (.pkg): the same paths, modes, launch daemon and postinstall script as
//! `fleetctl package --type=pkg`. The app bundles are installed both as their update targets
//! (`.app.tar.gz`, which orbit compares with the repository's) and unpacked beside them (what
//! orbit runs).

use std::path::Path;

use super::unpack::{unpack, UnpackError};
use super::{certificate_files, file, orbit_variables, symlink, Entry, ROOT};
use crate::options::{PackageOptions, Targets};
use crate::xml::escape;

pub const LABEL: &str = "com.fleetdm.orbit";
pub const PLIST_FILE: &str = "/Library/LaunchDaemons/com.fleetdm.orbit.plist";
pub const SECRET_FILE: &str = "/opt/orbit/secret.txt";

/// What a .pkg installs, and its only script: macOS packages have no removal hooks.
pub struct MacosLayout {
    pub entries: Vec<Entry>,
    pub post_install: String,
}

/// The launch daemon: orbit's settings as environment variables, the secret by path only
/// (the plist is world-readable; `secret.txt` is not).
fn launch_daemon(options: &PackageOptions) -> String {
    let mut variables = orbit_variables(options);
    variables.push(("ORBIT_ENROLL_SECRET_PATH", SECRET_FILE.to_string()));
    let environment: String = variables
        .iter()
        .map(|(name, value)| {
            format!(
                "\t\t<key>{name}</key>\n\t\t<string>{}</string>\n",
                escape(value)
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>EnvironmentVariables</key>
	<dict>
{environment}	</dict>
	<key>KeepAlive</key>
	<true/>
	<key>Label</key>
	<string>{LABEL}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{ROOT}/bin/orbit/orbit</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>StandardErrorPath</key>
	<string>/var/log/orbit/orbit.stderr.log</string>
	<key>StandardOutPath</key>
	<string>/var/log/orbit/orbit.stdout.log</string>
	<key>ThrottleInterval</key>
	<integer>10</integer>
</dict>
</plist>
"#
    )
}

/// (Re)loads the launch daemon. When orbit itself installs the package (an update), stopping
/// it now would kill the installation: the reload then waits until the installer is done.
fn post_install(service: bool) -> String {
    if !service {
        return "#!/bin/sh\nexit 0\n".to_string();
    }
    format!(
        r#"#!/bin/bash
DAEMON_LABEL="{LABEL}"
DAEMON_PLIST="{PLIST_FILE}"

reload() {{
	pkill fleet-desktop || true
	launchctl bootout "system/${{DAEMON_LABEL}}" || true
	launchctl enable "system/${{DAEMON_LABEL}}"
	# bootstrap fails while the previous orbit is still shutting down: retry.
	count=0
	while ! launchctl bootstrap system "${{DAEMON_PLIST}}"; do
		sleep 1
		count=$((count + 1))
		if [ "$count" -eq 30 ]; then
			echo "Failed to bootstrap system ${{DAEMON_PLIST}}"
			return 1
		fi
	done
	launchctl kickstart "system/${{DAEMON_LABEL}}"
}}

if [ -f {ROOT}/.inband_upgrade ]; then
	rm -f {ROOT}/.inband_upgrade
	(sleep 30; reload) >/dev/null 2>&1 &
	exit 0
fi
reload
"#
    )
}

/// An app bundle target: the archive itself, and its contents unpacked beside it.
fn app_bundle(
    archive: &crate::contents::Contents,
    dir: &str,
    file_name: &str,
    scratch: &Path,
) -> Result<Vec<Entry>, UnpackError> {
    let unpack_dir = scratch.join(file_name);
    std::fs::create_dir_all(&unpack_dir).map_err(|source| UnpackError::Io {
        archive: file_name.to_string(),
        source,
    })?;
    let mut entries = unpack(archive, file_name, &unpack_dir, dir)?;
    entries.push(file(format!("{dir}/{file_name}"), archive.clone(), 0o644));
    Ok(entries)
}

/// The macOS tree of a fleetd package; the app bundles are unpacked into `scratch` (an
/// existing, private directory that outlives the package's build).
pub fn macos(
    options: &PackageOptions,
    targets: &Targets,
    scratch: &Path,
) -> Result<MacosLayout, UnpackError> {
    let orbit = format!("{ROOT}/bin/orbit/macos/{}/orbit", options.orbit_channel);
    let osqueryd_dir = format!("{ROOT}/bin/osqueryd/macos-app/{}", options.osqueryd_channel);
    let mut entries = vec![
        file(orbit.clone(), targets.orbit.clone(), 0o755),
        // Absolute, as fleetctl's postinstall links it.
        symlink(format!("{ROOT}/bin/orbit/orbit"), orbit),
        file(SECRET_FILE, options.enroll_secret.as_str(), 0o600),
        file(
            format!("{ROOT}/osquery.flags"),
            options.osquery_flagfile.clone().unwrap_or_default(),
            0o644,
        ),
        file(
            format!("{ROOT}/tuf-root.json"),
            targets.tuf_root.clone(),
            0o644,
        ),
    ];
    entries.extend(app_bundle(
        &targets.osqueryd,
        &osqueryd_dir,
        "osqueryd.app.tar.gz",
        scratch,
    )?);
    if let (true, Some(desktop)) = (options.fleet_desktop, &targets.desktop) {
        let desktop_dir = format!("{ROOT}/bin/desktop/macos/{}", options.desktop_channel);
        entries.extend(app_bundle(
            desktop,
            &desktop_dir,
            "desktop.app.tar.gz",
            scratch,
        )?);
    }
    if options.service {
        entries.push(file(PLIST_FILE, launch_daemon(options), 0o644));
    }
    entries.extend(certificate_files(options, &format!("{ROOT}/")));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(MacosLayout {
        entries,
        post_install: post_install(options.service),
    })
}
