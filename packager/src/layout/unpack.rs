//! Unpacks an app bundle's `.tar.gz` (osquery.app, Fleet Desktop.app) into the build's scratch
//! directory, one numbered scratch file per archive file, so that the bundle is installed
//! unpacked without ever being held in memory. The archive comes from the update repository:
//! entries that would land outside their directory are refused, not skipped.

use flate2::read::GzDecoder;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path};

use super::{file, symlink, Entry};
use crate::contents::Contents;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("unpacking {archive}: {source}")]
    Io {
        archive: String,
        #[source]
        source: io::Error,
    },
    #[error("{archive}: entry {path:?} leaves its directory (absolute or `..`): refused")]
    UnsafePath { archive: String, path: String },
    #[error("{archive}: symlink {path:?} points to the absolute path {target:?}: refused")]
    AbsoluteLink {
        archive: String,
        path: String,
        target: String,
    },
    #[error("{archive}: hard link {path:?} to {target:?}, which is not a file before it")]
    DanglingHardLink {
        archive: String,
        path: String,
        target: String,
    },
    #[error("{archive}: entry {path:?} is a {kind}, which an app bundle does not hold")]
    UnsupportedEntry {
        archive: String,
        path: String,
        kind: &'static str,
    },
}

/// The archive path as `a/b/c`, or `None` when it is absolute or climbs out with `..`.
fn relative_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_string()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Unpacks `archive` (named `name` in errors) into `scratch`, an existing empty directory;
/// answers the entries that install its files and symlinks under `install_dir`.
pub(crate) fn unpack(
    archive: &Contents,
    name: &str,
    scratch: &Path,
    install_dir: &str,
) -> Result<Vec<Entry>, UnpackError> {
    let io_error = |source| UnpackError::Io {
        archive: name.to_string(),
        source,
    };
    let mut tar = tar::Archive::new(GzDecoder::new(archive.reader().map_err(io_error)?));
    let mut entries = Vec::new();
    // Unpacked files by archive path, for hard links to them.
    let mut unpacked: HashMap<String, (Contents, u32)> = HashMap::new();
    for (index, entry) in tar.entries().map_err(io_error)?.enumerate() {
        let mut entry = entry.map_err(io_error)?;
        let raw_path = entry.path().map_err(io_error)?.into_owned();
        let path = relative_path(&raw_path).ok_or_else(|| UnpackError::UnsafePath {
            archive: name.to_string(),
            path: raw_path.display().to_string(),
        })?;
        let kind = entry.header().entry_type();
        if path.is_empty() || kind.is_pax_global_extensions() {
            continue;
        }
        let installed = format!("{install_dir}/{path}");
        let link_target = || -> Result<String, UnpackError> {
            let target = entry.link_name().map_err(io_error)?.unwrap_or_default();
            Ok(target.to_string_lossy().into_owned())
        };
        match kind {
            tar::EntryType::Directory => {}
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mode = entry.header().mode().map_err(io_error)? & 0o7777;
                let target = scratch.join(index.to_string());
                let mut out = BufWriter::new(File::create(&target).map_err(io_error)?);
                io::copy(&mut entry, &mut out).map_err(io_error)?;
                out.flush().map_err(io_error)?;
                let contents = Contents::File(target);
                unpacked.insert(path, (contents.clone(), mode));
                entries.push(file(installed, contents, mode));
            }
            tar::EntryType::Symlink => {
                let target = link_target()?;
                // Relative targets (`Versions/Current`, `../Frameworks`) are how bundles link
                // inside themselves; an absolute one would point anywhere on the host.
                if target.starts_with('/') {
                    return Err(UnpackError::AbsoluteLink {
                        archive: name.to_string(),
                        path,
                        target,
                    });
                }
                entries.push(symlink(installed, target));
            }
            tar::EntryType::Link => {
                let target = link_target()?;
                let linked = relative_path(Path::new(&target))
                    .and_then(|target| unpacked.get(&target).cloned())
                    .ok_or_else(|| UnpackError::DanglingHardLink {
                        archive: name.to_string(),
                        path: path.clone(),
                        target: target.clone(),
                    })?;
                let (contents, mode) = linked;
                unpacked.insert(path, (contents.clone(), mode));
                entries.push(file(installed, contents, mode));
            }
            other => {
                return Err(UnpackError::UnsupportedEntry {
                    archive: name.to_string(),
                    path,
                    kind: kind_name(other),
                })
            }
        }
    }
    Ok(entries)
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special entry",
    }
}
