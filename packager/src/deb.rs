//! A Debian binary package, written in Rust: an `ar` archive of `debian-binary`,
//! `control.tar.gz` (control, md5sums, maintainer scripts) and `data.tar.gz` (the tree).
//! The compressed members are written to the scratch directory first (an `ar` member needs its
//! size up front), so nothing the size of the package is ever held in memory.

use flate2::write::GzEncoder;
use flate2::Compression;
use md5::{Digest, Md5};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::layout::{Layout, Node};

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("{0}: {1}")]
    Io(&'static str, io::Error),
    #[error("{0} is not an absolute path")]
    RelativePath(String),
}

fn io(step: &'static str) -> impl Fn(io::Error) -> DebError {
    move |e| DebError::Io(step, e)
}

/// The control file's fields.
pub struct DebMeta {
    pub name: String,
    pub version: String,
    /// Debian's name for the architecture: `amd64`, `arm64`.
    pub architecture: String,
    pub maintainer: String,
    pub description: String,
    /// Modification time of every entry (Unix seconds), so that a build is reproducible.
    pub mtime: u64,
}

/// A root-owned entry; the path is set by `append_data`/`append_link`, which also handle names
/// too long for the header itself.
fn header(size: u64, mode: u32, kind: tar::EntryType, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    // Names only; a failure (a name too long) cannot happen for "root".
    let _ = header.set_username("root");
    let _ = header.set_groupname("root");
    header
}

/// Every directory above the layout's paths, parents first (`./opt/`, `./opt/orbit/` ...).
fn directories(layout: &Layout) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for entry in &layout.entries {
        let mut path = entry.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            if parent.is_empty() {
                break;
            }
            dirs.insert(format!(".{parent}/"));
            path = parent;
        }
    }
    dirs
}

fn write_data<W: Write>(layout: &Layout, mtime: u64, out: W) -> Result<W, DebError> {
    let mut tar = tar::Builder::new(out);
    let mut dir = header(0, 0o755, tar::EntryType::Directory, mtime);
    tar.append_data(&mut dir, "./", io::empty())
        .map_err(io("data.tar"))?;
    for path in directories(layout) {
        let mut header = header(0, 0o755, tar::EntryType::Directory, mtime);
        tar.append_data(&mut header, &path, io::empty())
            .map_err(io("data.tar"))?;
    }
    for entry in &layout.entries {
        if !entry.path.starts_with('/') {
            return Err(DebError::RelativePath(entry.path.clone()));
        }
        let path = format!(".{}", entry.path);
        match &entry.node {
            Node::File { contents, mode } => {
                let size = contents.len().map_err(io("target file"))?;
                let mut header = header(size, *mode, tar::EntryType::Regular, mtime);
                let reader = contents.reader().map_err(io("target file"))?;
                tar.append_data(&mut header, &path, reader)
                    .map_err(io("data.tar"))?;
            }
            Node::Symlink { target } => {
                let mut header = header(0, 0o777, tar::EntryType::Symlink, mtime);
                tar.append_link(&mut header, &path, target)
                    .map_err(io("data.tar"))?;
            }
        }
    }
    tar.into_inner().map_err(io("data.tar"))
}

/// The `control` member (the benchmark stages the same one for `dpkg-deb --build`).
pub fn control_file(meta: &DebMeta, installed_kib: u64) -> String {
    format!(
        "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: {}\nInstalled-Size: {}\n\
         Section: admin\nPriority: optional\nDescription: {}\n",
        meta.name,
        meta.version,
        meta.architecture,
        meta.maintainer,
        installed_kib,
        meta.description
    )
}

fn md5sums(layout: &Layout) -> Result<String, DebError> {
    let mut sums = String::new();
    for entry in &layout.entries {
        if let Node::File { contents, .. } = &entry.node {
            let mut hasher = Md5::new();
            let mut reader = contents.reader().map_err(io("target file"))?;
            io::copy(&mut reader, &mut hasher).map_err(io("target file"))?;
            sums.push_str(&format!(
                "{}  {}\n",
                hex::encode(hasher.finalize()),
                entry.path.trim_start_matches('/')
            ));
        }
    }
    Ok(sums)
}

fn write_control<W: Write>(layout: &Layout, meta: &DebMeta, out: W) -> Result<W, DebError> {
    let mut installed = 0u64;
    for entry in &layout.entries {
        if let Node::File { contents, .. } = &entry.node {
            installed += contents.len().map_err(io("target file"))?;
        }
    }
    let members: [(&str, String, u32); 5] = [
        (
            "./control",
            control_file(meta, installed.div_ceil(1024)),
            0o644,
        ),
        ("./md5sums", md5sums(layout)?, 0o644),
        ("./postinst", layout.scripts.post_install.clone(), 0o755),
        ("./prerm", layout.scripts.pre_remove.clone(), 0o755),
        ("./postrm", layout.scripts.post_remove.clone(), 0o755),
    ];
    let mut tar = tar::Builder::new(out);
    let mut dir = header(0, 0o755, tar::EntryType::Directory, meta.mtime);
    tar.append_data(&mut dir, "./", io::empty())
        .map_err(io("control.tar"))?;
    for (path, contents, mode) in members {
        let mut header = header(
            contents.len() as u64,
            mode,
            tar::EntryType::Regular,
            meta.mtime,
        );
        tar.append_data(&mut header, path, contents.as_bytes())
            .map_err(io("control.tar"))?;
    }
    tar.into_inner().map_err(io("control.tar"))
}

/// Gzips what `write` produces into `path`.
fn gzip_to_file<F>(path: &Path, write: F) -> Result<(), DebError>
where
    F: FnOnce(GzEncoder<BufWriter<File>>) -> Result<GzEncoder<BufWriter<File>>, DebError>,
{
    let file = File::create(path).map_err(io("scratch file"))?;
    let encoder = GzEncoder::new(BufWriter::new(file), Compression::default());
    let encoder = write(encoder)?;
    let mut writer = encoder.finish().map_err(io("gzip"))?;
    writer.flush().map_err(io("gzip"))
}

/// Writes the package to `out`, using `scratch` (an existing directory) for the members.
pub fn build(layout: &Layout, meta: &DebMeta, scratch: &Path, out: &Path) -> Result<(), DebError> {
    let control = scratch.join("control.tar.gz");
    let data = scratch.join("data.tar.gz");
    gzip_to_file(&control, |w| write_control(layout, meta, w))?;
    gzip_to_file(&data, |w| write_data(layout, meta.mtime, w))?;
    let output = BufWriter::new(File::create(out).map_err(io("package file"))?);
    let mut archive = ar::Builder::new(output);
    let mut member = |name: &str, size: u64, reader: &mut dyn io::Read| {
        let mut header = ar::Header::new(name.as_bytes().to_vec(), size);
        header.set_mode(0o100644);
        header.set_mtime(meta.mtime);
        archive.append(&header, reader).map_err(io("ar"))
    };
    member("debian-binary", 4, &mut &b"2.0\n"[..])?;
    for (name, path) in [("control.tar.gz", &control), ("data.tar.gz", &data)] {
        let mut file = File::open(path).map_err(io("scratch file"))?;
        let size = file.metadata().map_err(io("scratch file"))?.len();
        member(name, size, &mut file)?;
    }
    archive
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io("package file"))
}
