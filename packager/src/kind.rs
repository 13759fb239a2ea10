//! The four installer types, and what each implies: the update platform its targets come from,
//! the target names in the repository (wire-contracts.md, "TUF repository layout") and the
//! file name `fleetctl package` gives the package.

use crate::options::PackageOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageType {
    Deb,
    Rpm,
    Pkg,
    Msi,
}

/// The repository targets one package is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetNames {
    pub orbit: String,
    pub osqueryd: String,
    pub desktop: Option<String>,
}

impl PackageType {
    pub const ALL: [PackageType; 4] = [
        PackageType::Deb,
        PackageType::Rpm,
        PackageType::Pkg,
        PackageType::Msi,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PackageType::Deb => "deb",
            PackageType::Rpm => "rpm",
            PackageType::Pkg => "pkg",
            PackageType::Msi => "msi",
        }
    }

    /// The update platform of orbit and desktop for this installer.
    pub fn platform(self) -> &'static str {
        match self {
            PackageType::Deb | PackageType::Rpm => "linux",
            PackageType::Pkg => "macos",
            PackageType::Msi => "windows",
        }
    }

    pub fn target_names(self, options: &PackageOptions) -> TargetNames {
        let (orbit, osqueryd_platform, osqueryd, desktop) = match self {
            PackageType::Deb | PackageType::Rpm => ("orbit", "linux", "osqueryd", "desktop.tar.gz"),
            PackageType::Pkg => (
                "orbit",
                "macos-app",
                "osqueryd.app.tar.gz",
                "desktop.app.tar.gz",
            ),
            PackageType::Msi => ("orbit.exe", "windows", "osqueryd.exe", "fleet-desktop.exe"),
        };
        let platform = self.platform();
        TargetNames {
            orbit: format!("orbit/{platform}/{}/{orbit}", options.orbit_channel),
            osqueryd: format!(
                "osqueryd/{osqueryd_platform}/{}/{osqueryd}",
                options.osqueryd_channel
            ),
            desktop: options
                .fleet_desktop
                .then(|| format!("desktop/{platform}/{}/{desktop}", options.desktop_channel)),
        }
    }

    /// The name `fleetctl package` gives the file (`version` is the orbit target's).
    pub fn file_name(self, version: &str) -> String {
        match self {
            PackageType::Deb => format!("fleet-osquery_{version}_amd64.deb"),
            PackageType::Rpm => format!("fleet-osquery-{version}.x86_64.rpm"),
            PackageType::Pkg => "fleet-osquery.pkg".to_string(),
            PackageType::Msi => "fleet-osquery.msi".to_string(),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            PackageType::Deb => "application/vnd.debian.binary-package",
            PackageType::Rpm => "application/x-rpm",
            PackageType::Pkg => "application/octet-stream",
            PackageType::Msi => "application/x-msi",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_follow_the_repository_layout() {
        let mut options = PackageOptions::new("https://fleet.example.com", "s");
        options.osqueryd_channel = "5.12".into();
        options.fleet_desktop = true;
        let names = PackageType::Pkg.target_names(&options);
        assert_eq!(names.orbit, "orbit/macos/stable/orbit");
        assert_eq!(
            names.osqueryd,
            "osqueryd/macos-app/5.12/osqueryd.app.tar.gz"
        );
        assert_eq!(
            names.desktop.as_deref(),
            Some("desktop/macos/stable/desktop.app.tar.gz")
        );
        let names = PackageType::Msi.target_names(&PackageOptions::new("u", "s"));
        assert_eq!(names.orbit, "orbit/windows/stable/orbit.exe");
        assert_eq!(names.osqueryd, "osqueryd/windows/stable/osqueryd.exe");
        assert_eq!(names.desktop, None);
        assert_eq!(
            PackageType::Deb.target_names(&options).osqueryd,
            "osqueryd/linux/5.12/osqueryd"
        );
        for kind in PackageType::ALL {
            assert_eq!(PackageType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PackageType::parse("exe"), None);
    }
}
