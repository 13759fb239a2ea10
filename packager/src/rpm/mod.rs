//! An RPM package (format v4), written in Rust from the same layout as the .deb: files with
//! their modes (owned by root), symlinks, and the install/removal scripts as scriptlets.
//!
//! Two passes, so that memory does not grow with the package: the gzip cpio payload is
//! written to a scratch file while the file sizes, modes and digests and the payload's digests
//! are gathered ([`payload`]); then the main header is built from them ([`main_header`]), and
//! the lead, the signature header, the main header and the payload copied from scratch are
//! written out ([`writer`]).

mod cpio;
mod header;
mod lead;
mod main_header;
mod payload;
mod signature;
mod tags;
mod writer;

use std::path::Path;

use crate::layout::Layout;

/// The payload's gzip level: `rpmbuild`'s `w6.gzdio`, `gzip -6`.
pub const GZIP_LEVEL: u32 = 6;

/// The package's release: one build per version.
pub const RELEASE: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error("{0} is not an absolute path to a file")]
    BadPath(String),
    #[error("{0} is in the layout twice")]
    DuplicatePath(String),
    #[error("{0} is too large for a cpio payload (4 GiB at most)")]
    TooLarge(String),
    #[error("{0} changed size while it was being packaged")]
    Changed(String),
}

/// The header's fields.
pub struct RpmMeta {
    pub name: String,
    pub version: String,
    /// RPM's name for the architecture: `x86_64`, `aarch64`.
    pub architecture: String,
    pub summary: String,
    pub license: String,
    /// Build time and every entry's modification time (Unix seconds), so that a build is
    /// reproducible.
    pub source_date: u32,
}

/// Builds the package into `out`, using `scratch` (an existing directory) for the payload.
pub fn build(layout: &Layout, meta: &RpmMeta, scratch: &Path, out: &Path) -> Result<(), RpmError> {
    let payload_path = scratch.join("payload.cpio.gz");
    let payload = payload::write(layout, meta.source_date, GZIP_LEVEL, &payload_path)?;
    let header = main_header::header(meta, &layout.scripts, &payload)
        .encode(tags::HEADER_IMMUTABLE)
        .map_err(|e| RpmError::Io("header", e))?;
    let lead = lead::lead(
        &format!("{}-{}-{RELEASE}", meta.name, meta.version),
        &meta.architecture,
    );
    let written = writer::write(&lead, &header.bytes, &payload, &payload_path, out);
    // The scratch directory is the caller's; the payload in it is not needed any more.
    let _ = std::fs::remove_file(&payload_path);
    written
}
