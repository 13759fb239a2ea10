//! The three things fleetd updates and where they live: target names in the repository
//! (`<component>/<platform>/<channel>/<file>`, wire-contracts.md) and their local mirror
//! `<root>/bin/<component>/<platform>/<channel>/<file>`.

use crate::paths::RootDir;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Orbit,
    Osqueryd,
    Desktop,
}

impl Component {
    pub const ALL: [Component; 3] = [Component::Orbit, Component::Osqueryd, Component::Desktop];

    pub fn name(self) -> &'static str {
        match self {
            Component::Orbit => "orbit",
            Component::Osqueryd => "osqueryd",
            Component::Desktop => "desktop",
        }
    }

    /// The platform part of the target name. Fleet publishes osqueryd for macOS as an app
    /// bundle under its own platform name, `macos-app`.
    pub fn target_platform(self, platform: &str) -> &str {
        match (self, platform) {
            (Component::Osqueryd, "macos") => "macos-app",
            _ => platform,
        }
    }

    /// The last part of the target name.
    pub fn file_name(self, platform: &str) -> &'static str {
        match (self, platform) {
            (Component::Orbit, "windows") => "orbit.exe",
            (Component::Orbit, _) => "orbit",
            (Component::Osqueryd, "windows") => "osqueryd.exe",
            (Component::Osqueryd, "macos" | "macos-app") => "osqueryd.app.tar.gz",
            (Component::Osqueryd, _) => "osqueryd",
            (Component::Desktop, "windows") => "fleet-desktop.exe",
            (Component::Desktop, "macos") => "desktop.app.tar.gz",
            (Component::Desktop, _) => "desktop.tar.gz",
        }
    }

    /// `<component>/<platform>/<channel>/<file>`.
    pub fn target_name(self, platform: &str, channel: &str) -> String {
        format!(
            "{}/{}/{}/{}",
            self.name(),
            self.target_platform(platform),
            channel,
            self.file_name(platform)
        )
    }

    /// `<root>/bin/<component>/<platform>/<channel>/<file>`: where the installed target lives.
    /// For archives this is the archive itself; its contents are unpacked beside it.
    pub fn local_path(self, root: &RootDir, platform: &str, channel: &str) -> PathBuf {
        root.bin()
            .join(self.name())
            .join(self.target_platform(platform))
            .join(channel)
            .join(self.file_name(platform))
    }

    /// Archives are unpacked and checked for content; everything else is an executable that
    /// must answer `--version`.
    pub fn is_archive(self, platform: &str) -> bool {
        self.file_name(platform).ends_with(".tar.gz")
    }
}

/// How a downloaded target is checked and installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A program: made executable and run with `--version` before it is swapped in.
    Executable,
    /// A `.tar.gz`, unpacked beside the archive's local path.
    Archive,
    /// An osquery extension: made executable, not run (osquery loads it).
    Extension,
}

/// One target of the repository and where it is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The target's name in the repository.
    pub name: String,
    pub local_path: PathBuf,
    /// The last part of the name (staging keeps it, so a `.exe` stays runnable).
    pub file_name: String,
    pub kind: TargetKind,
}

/// A plain path component: nothing that could climb out of `bin/` or name another target.
fn plain(part: &str) -> bool {
    valid_channel(part)
}

impl Target {
    /// `extensions/<name>/<platform>/<channel>/<file>`, installed under
    /// `<root>/bin/extensions/...` as Fleet's orbit does. None for a part that is not a plain
    /// name (the names come from the server).
    pub fn extension(
        root: &RootDir,
        name: &str,
        platform: &str,
        channel: &str,
        file_name: &str,
    ) -> Option<Target> {
        [name, platform, channel, file_name]
            .iter()
            .all(|part| plain(part))
            .then(|| Target {
                name: format!("extensions/{name}/{platform}/{channel}/{file_name}"),
                local_path: root
                    .bin()
                    .join("extensions")
                    .join(name)
                    .join(platform)
                    .join(channel)
                    .join(file_name),
                file_name: file_name.to_owned(),
                kind: TargetKind::Extension,
            })
    }
}

impl Component {
    /// The component's target on `platform` and `channel`.
    pub fn target(self, root: &RootDir, platform: &str, channel: &str) -> Target {
        Target {
            name: self.target_name(platform, channel),
            local_path: self.local_path(root, platform, channel),
            file_name: self.file_name(platform).to_owned(),
            kind: if self.is_archive(platform) {
                TargetKind::Archive
            } else {
                TargetKind::Executable
            },
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Channels become path components both in the repository and under `bin/`, so only plain
/// names (`stable`, `edge`, `4.6.0`) are accepted: nothing that could climb out of `bin/`.
pub fn valid_channel(channel: &str) -> bool {
    !channel.is_empty()
        && channel != "."
        && channel != ".."
        && channel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_follow_fleets_table() {
        let expected = [
            (Component::Orbit, "linux", "orbit/linux/stable/orbit"),
            (
                Component::Orbit,
                "linux-arm64",
                "orbit/linux-arm64/stable/orbit",
            ),
            (Component::Orbit, "macos", "orbit/macos/stable/orbit"),
            (
                Component::Orbit,
                "windows",
                "orbit/windows/stable/orbit.exe",
            ),
            (
                Component::Osqueryd,
                "linux",
                "osqueryd/linux/stable/osqueryd",
            ),
            (
                Component::Osqueryd,
                "linux-arm64",
                "osqueryd/linux-arm64/stable/osqueryd",
            ),
            (
                Component::Osqueryd,
                "macos",
                "osqueryd/macos-app/stable/osqueryd.app.tar.gz",
            ),
            (
                Component::Osqueryd,
                "windows",
                "osqueryd/windows/stable/osqueryd.exe",
            ),
            (
                Component::Desktop,
                "linux",
                "desktop/linux/stable/desktop.tar.gz",
            ),
            (
                Component::Desktop,
                "linux-arm64",
                "desktop/linux-arm64/stable/desktop.tar.gz",
            ),
            (
                Component::Desktop,
                "macos",
                "desktop/macos/stable/desktop.app.tar.gz",
            ),
            (
                Component::Desktop,
                "windows",
                "desktop/windows/stable/fleet-desktop.exe",
            ),
        ];
        for (component, platform, name) in expected {
            assert_eq!(component.target_name(platform, "stable"), name);
        }
    }

    #[test]
    fn local_paths_mirror_target_names_under_bin() {
        let root = RootDir::new("/opt/orbit");
        assert_eq!(
            Component::Osqueryd.local_path(&root, "macos", "5.12.1"),
            PathBuf::from("/opt/orbit/bin/osqueryd/macos-app/5.12.1/osqueryd.app.tar.gz")
        );
        assert_eq!(
            Component::Orbit.local_path(&root, "linux", "edge"),
            PathBuf::from("/opt/orbit/bin/orbit/linux/edge/orbit")
        );
        assert!(Component::Desktop.is_archive("linux"));
        assert!(!Component::Desktop.is_archive("windows"));
        assert!(!Component::Osqueryd.is_archive("linux"));
    }

    #[test]
    fn channels_cannot_leave_bin() {
        for good in ["stable", "edge", "4", "4.6", "4.6.0", "beta_1", "rc-2"] {
            assert!(valid_channel(good), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "stable\n", "é"] {
            assert!(!valid_channel(bad), "{bad:?}");
        }
    }
}
