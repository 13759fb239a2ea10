//! orbit as a Windows service, as fleetctl's WiX source declares it: an auto-start,
//! own-process service running as LocalSystem, started on install, stopped and deleted on
//! uninstall, restarted by the service manager when it dies. Its command line carries the
//! settings the Linux packages put in `/etc/default/orbit`, except the enroll secret: orbit
//! reads that from `secret.txt` (`--enroll-secret-path`), since a service's command line is
//! readable by every local user.

use crate::layout::windows::SECRET_FILE;
use crate::layout::{FLEET_CLIENT, FLEET_PEM, UPDATE_CLIENT};
use crate::options::PackageOptions;

/// The service's name (and display name), as fleetctl installs it.
pub const SERVICE_NAME: &str = "Fleet osquery";
pub const DESCRIPTION: &str = "This service runs Fleet's osquery runtime and autoupdater (Orbit).";

/// The property holding the Fleet URL, so `msiexec ... FLEET_URL=...` can change it (fleetctl
/// declares the same property).
pub const FLEET_URL_PROPERTY: &str = "FLEET_URL";

/// `ServiceInstall.ServiceType`: SERVICE_WIN32_OWN_PROCESS.
pub const OWN_PROCESS: i32 = 0x10;
/// `ServiceInstall.StartType`: SERVICE_AUTO_START.
pub const AUTO_START: i32 = 2;
/// `ServiceInstall.ErrorControl`: ignore (fleetctl's `ErrorControl="ignore"`).
pub const ERROR_IGNORE: i32 = 0;
/// `ServiceControl.Event`: start on install, stop on install and uninstall, delete on
/// uninstall (fleetctl's `Start="install" Stop="both" Remove="uninstall"`).
pub const CONTROL_EVENTS: i32 = 0x001 | 0x002 | 0x020 | 0x080;

/// Text as a literal in a Formatted column: brackets and braces would otherwise be read as
/// property references or conditional groups.
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '[' | ']' | '{' | '}' => {
                out.push_str("[\\");
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// A file under the install root, as a Formatted path (`[ORBITROOT]` ends with `\`).
fn root_file(name: &str) -> String {
    format!("\"[ORBITROOT]{name}\"")
}

/// orbit's arguments (a Formatted string, expanded by Windows Installer at install time).
pub fn arguments(options: &PackageOptions) -> String {
    let mut args: Vec<String> = vec![
        // `[ORBITROOT]` ends with a backslash, which would escape the closing quote.
        "--root-dir \"[ORBITROOT].\"".into(),
        "--log-file \"[System64Folder]config\\systemprofile\\AppData\\Local\\FleetDM\\Orbit\\Logs\\orbit-osquery.log\"".into(),
        format!("--fleet-url \"[{FLEET_URL_PROPERTY}]\""),
        format!("--enroll-secret-path {}", root_file(SECRET_FILE)),
    ];
    if options.fleet_certificate.is_some() {
        args.push(format!("--fleet-certificate {}", root_file(FLEET_PEM)));
    }
    if options.insecure {
        args.push("--insecure".into());
    }
    if options.debug {
        args.push("--debug".into());
    }
    args.push(format!("--update-url \"{}\"", literal(&options.update_url)));
    if options.disable_updates {
        args.push("--disable-updates".into());
    }
    if options.fleet_desktop {
        args.push("--fleet-desktop".into());
        args.push(format!(
            "--desktop-channel \"{}\"",
            literal(&options.desktop_channel)
        ));
        if let Some(host) = &options.fleet_desktop_alternative_browser_host {
            args.push(format!(
                "--fleet-desktop-alternative-browser-host \"{}\"",
                literal(host)
            ));
        }
    }
    args.push(format!(
        "--orbit-channel \"{}\"",
        literal(&options.orbit_channel)
    ));
    args.push(format!(
        "--osqueryd-channel \"{}\"",
        literal(&options.osqueryd_channel)
    ));
    args.push(format!(
        "--update-interval \"{}\"",
        literal(&options.update_interval)
    ));
    if options.enable_scripts {
        args.push("--enable-scripts".into());
    }
    // fleetctl leaves orbit's default ("uuid") implicit.
    if let Some(identifier) = options
        .host_identifier
        .as_deref()
        .filter(|id| !id.is_empty() && *id != "uuid")
    {
        args.push(format!("--host-identifier \"{}\"", literal(identifier)));
    }
    for (flag, (certificate, key), pair) in [
        ("fleet", FLEET_CLIENT, &options.fleet_tls_client),
        ("update", UPDATE_CLIENT, &options.update_tls_client),
    ] {
        if pair.is_some() {
            args.push(format!(
                "--{flag}-tls-client-certificate {}",
                root_file(certificate)
            ));
            args.push(format!("--{flag}-tls-client-key {}", root_file(key)));
        }
    }
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_stays_out_of_the_command_line() {
        let mut options = PackageOptions::new("https://fleet.example.com", "s3cret-value");
        options.fleet_desktop = true;
        options.debug = true;
        let args = arguments(&options);
        assert!(!args.contains("s3cret-value"), "{args}");
        assert!(args.contains("--enroll-secret-path \"[ORBITROOT]secret.txt\""));
        assert!(args.contains("--fleet-desktop --desktop-channel \"stable\""));
        assert!(args.contains("--debug"));
        assert!(!args.contains("--insecure"));
    }

    #[test]
    fn literals_cannot_reference_properties() {
        assert_eq!(literal("a[X]{b}"), "a[\\[]X[\\]][\\{]b[\\}]");
        let mut options = PackageOptions::new("u", "s");
        options.update_url = "https://tuf/[ProgramFilesFolder]".into();
        assert!(arguments(&options).contains("https://tuf/[\\[]ProgramFilesFolder[\\]]"));
    }
}
