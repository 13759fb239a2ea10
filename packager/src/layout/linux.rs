//! The Linux tree (.deb and .rpm): the same paths, modes, environment file, systemd unit and
//! install/removal scripts as `fleetctl package`.

use super::{certificate_files, file, orbit_variables, symlink, Layout, Scripts};
use crate::options::{PackageOptions, Targets};

pub use super::ROOT;
pub const ENV_FILE: &str = "/etc/default/orbit";
pub const UNIT_FILE: &str = "/usr/lib/systemd/system/orbit.service";

/// `/etc/default/orbit`: orbit's settings as `ORBIT_*` variables (it holds the secret: 0600).
fn environment(options: &PackageOptions) -> String {
    let mut variables = orbit_variables(options);
    // Right after the URL, where `fleetctl package` writes it.
    variables.insert(1, ("ORBIT_ENROLL_SECRET", options.enroll_secret.clone()));
    variables
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect()
}

const UNIT: &str = "[Unit]
Description=Orbit osquery
After=network.service syslog.service
StartLimitIntervalSec=0

[Service]
TimeoutStartSec=0
EnvironmentFile=/etc/default/orbit
ExecStart=/opt/orbit/bin/orbit/orbit
Restart=always
RestartSec=1
KillMode=control-group
KillSignal=SIGTERM
CPUQuota=20%

[Install]
WantedBy=multi-user.target
";

fn scripts(service: bool) -> Scripts {
    let post_install = if service {
        "#!/bin/sh\nset -e\n\
         systemctl daemon-reload >/dev/null 2>&1 || true\n\
         systemctl enable orbit.service >/dev/null 2>&1 || true\n\
         systemctl restart orbit.service >/dev/null 2>&1 || true\n"
    } else {
        "#!/bin/sh\nexit 0\n"
    };
    let pre_remove = if service {
        "#!/bin/sh\n\
         systemctl stop orbit.service >/dev/null 2>&1 || true\n\
         systemctl disable orbit.service >/dev/null 2>&1 || true\n"
    } else {
        "#!/bin/sh\nexit 0\n"
    };
    // Only on a real removal: an upgrade runs it too, and must keep the agent's state.
    let post_remove = "#!/bin/sh\n\
         case \"$1\" in\n\
           remove|purge|0)\n\
             rm -rf /opt/orbit /etc/default/orbit /usr/lib/systemd/system/orbit.service \\\n\
               /var/lib/orbit /var/log/orbit\n\
             systemctl daemon-reload >/dev/null 2>&1 || true\n\
             ;;\n\
         esac\n\
         exit 0\n";
    Scripts {
        post_install: post_install.to_string(),
        pre_remove: pre_remove.to_string(),
        post_remove: post_remove.to_string(),
    }
}

/// The Linux tree of a fleetd package (`platform` is `linux` or `linux-arm64`).
pub fn linux(options: &PackageOptions, targets: &Targets, platform: &str) -> Layout {
    let orbit_dir = format!("{ROOT}/bin/orbit/{platform}/{}", options.orbit_channel);
    let osqueryd_dir = format!(
        "{ROOT}/bin/osqueryd/{platform}/{}",
        options.osqueryd_channel
    );
    let mut entries = vec![
        file(format!("{orbit_dir}/orbit"), targets.orbit.clone(), 0o755),
        symlink(
            format!("{ROOT}/bin/orbit/orbit"),
            format!("{platform}/{}/orbit", options.orbit_channel),
        ),
        symlink("/usr/local/bin/orbit", format!("{ROOT}/bin/orbit/orbit")),
        file(
            format!("{osqueryd_dir}/osqueryd"),
            targets.osqueryd.clone(),
            0o755,
        ),
        file(ENV_FILE, environment(options), 0o600),
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
    if let (true, Some(desktop)) = (options.fleet_desktop, &targets.desktop) {
        entries.push(file(
            format!(
                "{ROOT}/bin/desktop/{platform}/{}/desktop.tar.gz",
                options.desktop_channel
            ),
            desktop.clone(),
            0o644,
        ));
    }
    if options.service {
        entries.push(file(UNIT_FILE, UNIT, 0o644));
    }
    entries.extend(certificate_files(options, &format!("{ROOT}/")));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Layout {
        entries,
        scripts: scripts(options.service),
    }
}
