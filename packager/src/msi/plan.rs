//! The layout as Windows Installer sees it: one Directory row per directory under the install
//! root, one component per file (its key path, with a GUID derived from the install path so
//! it stays the same across versions, as the component rules want), and the files in
//! cabinet order (their `Sequence`).

use std::collections::BTreeMap;

use super::names::{derived_uuid, guid, identifier, ShortNames};
use super::MsiError;
use crate::contents::Contents;
use crate::layout::{Entry, Node};

/// The install root's Directory key (as fleetctl's WiX source names it).
pub const ROOT_DIRECTORY: &str = "ORBITROOT";

pub struct Directory {
    pub key: String,
    pub parent: String,
    /// `short|long` (or just the name when it is 8.3 already).
    pub default_dir: String,
}

pub struct PlannedFile<'a> {
    /// The File key, which is also the file's name inside the cabinet.
    pub key: String,
    pub component: String,
    pub component_guid: String,
    pub directory: String,
    pub file_name: String,
    pub size: u64,
    /// 1-based position in the cabinet.
    pub sequence: i32,
    /// The install-relative path, `/`-separated.
    pub path: &'a str,
    pub contents: &'a Contents,
}

pub struct Plan<'a> {
    pub directories: Vec<Directory>,
    pub files: Vec<PlannedFile<'a>>,
}

impl<'a> Plan<'a> {
    pub fn new(entries: &'a [Entry]) -> Result<Self, MsiError> {
        // Directory key by install-relative path ("" is the root).
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        keys.insert(String::new(), ROOT_DIRECTORY.to_string());
        let mut short_names: BTreeMap<String, ShortNames> = BTreeMap::new();
        let mut directories = Vec::new();
        let mut files = Vec::new();
        for entry in entries {
            let contents = match &entry.node {
                Node::File { contents, .. } => contents,
                Node::Symlink { .. } => return Err(MsiError::Symlink(entry.path.clone())),
            };
            if entry.path.starts_with('/') || entry.path.contains('\\') {
                return Err(MsiError::NotRelative(entry.path.clone()));
            }
            let (parent, name) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
            // Create the missing directories, parents first.
            let mut walked = String::new();
            for part in parent.split('/').filter(|p| !p.is_empty()) {
                let above = walked.clone();
                walked = if walked.is_empty() {
                    part.to_string()
                } else {
                    format!("{walked}/{part}")
                };
                if keys.contains_key(&walked) {
                    continue;
                }
                let key = identifier("D", directories.len() + 1, part);
                let default_dir = short_names.entry(above.clone()).or_default().both(part);
                directories.push(Directory {
                    key: key.clone(),
                    parent: keys[&above].clone(),
                    default_dir,
                });
                keys.insert(walked.clone(), key);
            }
            let index = files.len() + 1;
            let size = contents.len().map_err(|e| MsiError::Io("target file", e))?;
            files.push(PlannedFile {
                key: identifier("F", index, name),
                component: identifier("C", index, name),
                component_guid: guid(derived_uuid(&[b"component", entry.path.as_bytes()])),
                directory: keys[parent].clone(),
                file_name: short_names
                    .entry(parent.to_string())
                    .or_default()
                    .both(name),
                size,
                sequence: i32::try_from(index).map_err(|_| MsiError::TooManyFiles)?,
                path: &entry.path,
                contents,
            });
        }
        Ok(Plan { directories, files })
    }

    pub fn file(&self, path: &str) -> Option<&PlannedFile<'a>> {
        self.files.iter().find(|f| f.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::file;

    #[test]
    fn directories_and_files_map_to_rows() {
        let entries = vec![
            file("bin/orbit/orbit.exe", "a", 0o755),
            file("bin/orbit/windows/4.6.0/orbit.exe", "a", 0o755),
            file("osquery.flags", "", 0o644),
        ];
        let plan = Plan::new(&entries).expect("plan");
        let dirs: Vec<(&str, &str, &str)> = plan
            .directories
            .iter()
            .map(|d| (d.key.as_str(), d.parent.as_str(), d.default_dir.as_str()))
            .collect();
        assert_eq!(
            dirs,
            [
                ("D1_bin", "ORBITROOT", "bin"),
                ("D2_orbit", "D1_bin", "orbit"),
                ("D3_windows", "D2_orbit", "windows"),
                ("D4_4.6.0", "D3_windows", "46~1.0|4.6.0"),
            ]
        );
        let flags = plan.file("osquery.flags").expect("flags");
        assert_eq!(flags.directory, "ORBITROOT");
        assert_eq!(flags.file_name, "OSQUER~1.FLA|osquery.flags");
        assert_eq!(flags.sequence, 3);
        let orbit = plan
            .file("bin/orbit/windows/4.6.0/orbit.exe")
            .expect("orbit");
        assert_eq!(orbit.directory, "D4_4.6.0");
        assert_ne!(
            orbit.component_guid,
            plan.file("bin/orbit/orbit.exe")
                .expect("orbit")
                .component_guid
        );
    }

    #[test]
    fn symlinks_and_absolute_paths_are_refused() {
        let entries = vec![crate::layout::symlink("bin/orbit", "x")];
        assert!(matches!(Plan::new(&entries), Err(MsiError::Symlink(_))));
        let entries = vec![file("/opt/orbit/x", "a", 0o644)];
        assert!(matches!(Plan::new(&entries), Err(MsiError::NotRelative(_))));
    }
}
