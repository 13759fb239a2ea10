//! An RPM package, built with the `rpm` crate from the same layout as the .deb: files with
//! their modes (owned by root), symlinks, and the install/removal scripts as scriptlets.

use crate::layout::{Layout, Node};

#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    #[error("rpm: {0}")]
    Build(#[from] rpm::Error),
    #[error("reading {0}: {1}")]
    Read(String, std::io::Error),
}

/// The header's fields.
pub struct RpmMeta {
    pub name: String,
    pub version: String,
    /// RPM's name for the architecture: `x86_64`, `aarch64`.
    pub architecture: String,
    pub summary: String,
    pub license: String,
    /// Build time of every entry (Unix seconds), so that a build is reproducible.
    pub source_date: u32,
}

/// Builds the package into `out` (the `rpm` crate assembles it in memory first).
pub fn build(layout: &Layout, meta: &RpmMeta, out: &std::path::Path) -> Result<(), RpmError> {
    let config = rpm::BuildConfig::v4()
        .compression(rpm::CompressionType::Gzip)
        .source_date(meta.source_date);
    let mut builder = rpm::PackageBuilder::new(
        &meta.name,
        &meta.version,
        &meta.license,
        &meta.architecture,
        &meta.summary,
    );
    builder.using_config(config);
    for entry in &layout.entries {
        match &entry.node {
            Node::File { contents, mode } => {
                // Permission bits fit u16 (at most 0o7777).
                let permissions = (mode & 0o7777) as u16;
                let bytes = contents
                    .to_vec()
                    .map_err(|e| RpmError::Read(entry.path.clone(), e))?;
                builder.with_file_contents(
                    bytes,
                    rpm::FileOptions::new(entry.path.as_str()).permissions(permissions),
                )?;
            }
            Node::Symlink { target } => {
                builder.with_symlink(rpm::FileOptions::symlink(
                    entry.path.as_str(),
                    target.as_str(),
                ))?;
            }
        }
    }
    builder
        .post_install_script(layout.scripts.post_install.as_str())
        .pre_uninstall_script(layout.scripts.pre_remove.as_str())
        .post_uninstall_script(layout.scripts.post_remove.as_str());
    builder.build()?.write_file(out)?;
    Ok(())
}
