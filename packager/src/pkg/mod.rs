//! A macOS flat package (.pkg), written in Rust: a xar archive of `Distribution` and one
//! component package directory, `base.pkg/`, holding `PackageInfo`, `Bom`, `Payload` (gzipped
//! odc cpio of the tree) and `Scripts` (gzipped odc cpio of `postinstall`), the layout
//! `fleetctl package --type=pkg` produces.
//!
//! Memory: `Payload` and `Scripts` are gzipped into the scratch directory as the files are
//! read; the xar writer then hashes and copies every member from scratch. What is held in
//! memory is per path (the BOM, the TOC), never per byte of a file.

mod bom;
mod cpio;
mod info;
pub mod sign;
mod xar;

use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use cpio::CpioWriter;
use xar::Member;

use crate::contents::Contents;
use crate::layout::macos::MacosLayout;
use crate::layout::Node;

/// The component package's directory in the flat package, as `fleetctl package` names it.
pub const COMPONENT: &str = "base.pkg";

#[derive(Debug, thiserror::Error)]
pub enum PkgError {
    #[error("{0}: {1}")]
    Io(&'static str, io::Error),
    #[error("{0} is not an absolute path")]
    RelativePath(String),
    #[error("{0} is installed twice (or both as a file and a directory)")]
    Duplicate(String),
}

fn io(step: &'static str) -> impl Fn(io::Error) -> PkgError {
    move |e| PkgError::Io(step, e)
}

/// What Installer shows and records.
pub struct PkgMeta {
    /// The component's identifier (`com.fleetdm.orbit.base.pkg`), what `pkgutil` lists.
    pub identifier: String,
    pub version: String,
    pub title: String,
    /// Modification time of every entry (Unix seconds), so that a build is reproducible.
    pub mtime: u32,
}

/// An installed path relative to `/` (`opt/orbit/secret.txt`) and what is there.
pub(crate) struct PayloadEntry {
    pub path: String,
    pub node: Node,
}

/// The tree's paths relative to `/`, sorted, checked absolute and unique; and the directories
/// above them (`opt`, `opt/orbit`, ...).
fn payload_entries(
    layout: &MacosLayout,
) -> Result<(Vec<PayloadEntry>, BTreeSet<String>), PkgError> {
    let mut by_path = BTreeMap::new();
    for entry in &layout.entries {
        let relative = entry
            .path
            .strip_prefix('/')
            .filter(|path| !path.is_empty() && !path.ends_with('/'))
            .ok_or_else(|| PkgError::RelativePath(entry.path.clone()))?;
        if by_path
            .insert(relative.to_string(), entry.node.clone())
            .is_some()
        {
            return Err(PkgError::Duplicate(entry.path.clone()));
        }
    }
    let mut directories = BTreeSet::new();
    for path in by_path.keys() {
        let mut path = path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            directories.insert(parent.to_string());
            path = parent;
        }
    }
    if let Some(clash) = directories.iter().find(|dir| by_path.contains_key(*dir)) {
        return Err(PkgError::Duplicate(format!("/{clash}")));
    }
    let entries = by_path
        .into_iter()
        .map(|(path, node)| PayloadEntry { path, node })
        .collect();
    Ok((entries, directories))
}

/// Gzips what `write` produces into `path`.
fn gzip_to_file<F>(path: &Path, write: F) -> Result<(), PkgError>
where
    F: FnOnce(&mut GzEncoder<BufWriter<File>>) -> Result<(), PkgError>,
{
    let file = File::create(path).map_err(io("scratch file"))?;
    let mut encoder = GzEncoder::new(BufWriter::new(file), Compression::default());
    write(&mut encoder)?;
    encoder
        .finish()
        .and_then(|mut w| w.flush())
        .map_err(io("gzip"))
}

/// Writes the payload's cpio (directories and entries in path order, so parents come first);
/// answers its number of entries and the installed size in KiB.
fn write_payload<W: Write>(
    entries: &[PayloadEntry],
    directories: &BTreeSet<String>,
    mtime: u32,
    out: W,
) -> Result<(u64, u64), PkgError> {
    enum Item<'a> {
        Directory,
        Entry(&'a Node),
    }
    let mut items: BTreeMap<&str, Item> = directories
        .iter()
        .map(|dir| (dir.as_str(), Item::Directory))
        .collect();
    items.extend(
        entries
            .iter()
            .map(|e| (e.path.as_str(), Item::Entry(&e.node))),
    );
    let mut cpio = CpioWriter::new(out, u64::from(mtime));
    cpio.directory(".", 0o755).map_err(io("payload"))?;
    let mut bytes = 0u64;
    for (path, item) in &items {
        let name = format!("./{path}");
        match item {
            Item::Directory => cpio.directory(&name, 0o755),
            Item::Entry(Node::File { contents, mode }) => {
                let size = contents.len().map_err(io("target file"))?;
                bytes += size;
                let mut reader = contents.reader().map_err(io("target file"))?;
                cpio.file(&name, mode & 0o7777, size, &mut reader)
            }
            Item::Entry(Node::Symlink { target }) => cpio.symlink(&name, target),
        }
        .map_err(io("payload"))?;
    }
    cpio.finish().map_err(io("payload"))?;
    Ok((items.len() as u64 + 1, bytes.div_ceil(1024)))
}

/// Writes the package to `out`, using `scratch` (an existing directory) for its members.
pub fn build(
    layout: &MacosLayout,
    meta: &PkgMeta,
    scratch: &Path,
    out: &Path,
) -> Result<(), PkgError> {
    let (entries, directories) = payload_entries(layout)?;

    let payload = scratch.join("Payload");
    let mut counts = (0, 0);
    gzip_to_file(&payload, |w| {
        counts = write_payload(&entries, &directories, meta.mtime, w)?;
        Ok(())
    })?;
    let (files, install_kbytes) = counts;

    let scripts = scratch.join("Scripts");
    gzip_to_file(&scripts, |w| {
        let script = layout.post_install.as_bytes();
        let mut cpio = CpioWriter::new(w, u64::from(meta.mtime));
        cpio.directory(".", 0o755).map_err(io("scripts"))?;
        cpio.file(
            "./postinstall",
            0o755,
            script.len() as u64,
            &mut &script[..],
        )
        .map_err(io("scripts"))?;
        cpio.finish().map_err(io("scripts"))?;
        Ok(())
    })?;

    let bom = scratch.join("Bom");
    let bom_data = bom::build(&entries, &directories, meta.mtime).map_err(io("bom"))?;
    std::fs::write(&bom, bom_data).map_err(io("scratch file"))?;

    let members = [
        Member::File {
            name: "Distribution".into(),
            contents: info::distribution(meta, COMPONENT, install_kbytes).into(),
        },
        Member::Directory {
            name: COMPONENT.into(),
            members: vec![
                Member::File {
                    name: "Bom".into(),
                    contents: Contents::File(bom),
                },
                Member::File {
                    name: "PackageInfo".into(),
                    contents: info::package_info(meta, files, install_kbytes).into(),
                },
                Member::File {
                    name: "Payload".into(),
                    contents: Contents::File(payload),
                },
                Member::File {
                    name: "Scripts".into(),
                    contents: Contents::File(scripts),
                },
            ],
        },
    ];
    xar::write(&members, meta.mtime, out).map_err(io("package file"))
}
