//! The Windows tree (.msi): what `fleetctl package --type=msi` installs under
//! `C:\Program Files\Orbit`. Paths are relative to that root, with `/` separators; the MSI
//! writer maps each directory to a row of its Directory table.

use super::{certificate_files, file, Entry};
use crate::options::{PackageOptions, Targets};

/// Where the package installs (the MSI's ORBITROOT, under ProgramFiles64Folder).
pub const INSTALL_ROOT: &str = r"C:\Program Files\Orbit";

/// orbit as the service runs it: fleetctl installs the channel's binary a second time here,
/// so the service's path does not change when the channel does.
pub const SERVICE_EXE: &str = "bin/orbit/orbit.exe";

pub const SECRET_FILE: &str = "secret.txt";
pub const OSQUERY_FLAGS: &str = "osquery.flags";
pub const TUF_ROOT: &str = "tuf-root.json";

/// The files of a Windows fleetd package, sorted by path. Modes mean nothing to Windows
/// Installer; they are kept as the Linux tree has them for a uniform `Entry`.
pub fn windows(options: &PackageOptions, targets: &Targets) -> Vec<Entry> {
    let orbit_channel = &options.orbit_channel;
    let mut entries = vec![
        file(
            format!("bin/orbit/windows/{orbit_channel}/orbit.exe"),
            targets.orbit.clone(),
            0o755,
        ),
        file(SERVICE_EXE, targets.orbit.clone(), 0o755),
        file(
            format!(
                "bin/osqueryd/windows/{}/osqueryd.exe",
                options.osqueryd_channel
            ),
            targets.osqueryd.clone(),
            0o755,
        ),
        // orbit reads the secret from this file (`--enroll-secret-path`): it never appears
        // in the service's command line, which any local user can read.
        file(SECRET_FILE, options.enroll_secret.as_str(), 0o600),
        file(
            OSQUERY_FLAGS,
            options.osquery_flagfile.clone().unwrap_or_default(),
            0o644,
        ),
        file(TUF_ROOT, targets.tuf_root.clone(), 0o644),
    ];
    if let (true, Some(desktop)) = (options.fleet_desktop, &targets.desktop) {
        entries.push(file(
            format!(
                "bin/desktop/windows/{}/fleet-desktop.exe",
                options.desktop_channel
            ),
            desktop.clone(),
            0o755,
        ));
    }
    entries.extend(certificate_files(options, ""));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contents::Contents;
    use crate::layout::Node;

    fn targets() -> Targets {
        Targets {
            version: "1.38.0".into(),
            orbit: b"orbit".to_vec().into(),
            osqueryd: b"osqueryd".to_vec().into(),
            desktop: Some(b"desktop".to_vec().into()),
            tuf_root: b"{}".to_vec(),
        }
    }

    fn contents<'a>(entries: &'a [Entry], path: &str) -> Option<&'a Contents> {
        entries
            .iter()
            .find(|e| e.path == path)
            .map(|e| match &e.node {
                Node::File { contents, .. } => contents,
                Node::Symlink { .. } => panic!("{path} is a symlink"),
            })
    }

    #[test]
    fn the_tree_follows_fleetctl() {
        let mut options = PackageOptions::new("https://fleet.example.com", "s3cret");
        options.orbit_channel = "edge".into();
        let entries = windows(&options, &targets());
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "bin/orbit/orbit.exe",
                "bin/orbit/windows/edge/orbit.exe",
                "bin/osqueryd/windows/stable/osqueryd.exe",
                "osquery.flags",
                "secret.txt",
                "tuf-root.json",
            ]
        );
        assert_eq!(
            contents(&entries, "secret.txt"),
            Some(&Contents::from("s3cret"))
        );
        assert_eq!(
            contents(&entries, "bin/orbit/orbit.exe"),
            contents(&entries, "bin/orbit/windows/edge/orbit.exe")
        );
    }

    #[test]
    fn optional_files_follow_the_options() {
        let mut options = PackageOptions::new("https://fleet.example.com", "s");
        options.fleet_desktop = true;
        options.desktop_channel = "4.6".into();
        options.fleet_certificate = Some(b"pem".to_vec());
        options.update_tls_client = Some((b"crt".to_vec(), b"key".to_vec()));
        let entries = windows(&options, &targets());
        assert_eq!(
            contents(&entries, "bin/desktop/windows/4.6/fleet-desktop.exe"),
            Some(&Contents::from("desktop"))
        );
        assert_eq!(
            contents(&entries, "fleet.pem"),
            Some(&Contents::from("pem"))
        );
        assert_eq!(
            contents(&entries, "update_client.key"),
            Some(&Contents::from("key"))
        );
        assert_eq!(contents(&entries, "fleet_client.crt"), None);
    }
}
