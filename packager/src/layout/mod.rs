//! What a fleetd package lays down, independent of the package format: one tree per platform
//! (wire-contracts.md, "fleetd packages"), which each format's writer turns into its archive.

pub mod linux;
pub mod windows;

pub use linux::linux;
pub use windows::windows;

use crate::contents::Contents;

/// One thing the package installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { contents: Contents, mode: u32 },
    Symlink { target: String },
}

/// An absolute path and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub node: Node,
}

/// The Linux install and removal scripts, as shell scripts (the format maps them to its hooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripts {
    pub post_install: String,
    pub pre_remove: String,
    /// Runs after removal; gets the package manager's first argument (`remove`, `purge`,
    /// `upgrade`, ... for dpkg; `0` for a last removal with rpm), which it passes on.
    pub post_remove: String,
}

pub struct Layout {
    pub entries: Vec<Entry>,
    pub scripts: Scripts,
}

pub(crate) fn file(path: impl Into<String>, contents: impl Into<Contents>, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        node: Node::File {
            contents: contents.into(),
            mode,
        },
    }
}

pub(crate) fn symlink(path: impl Into<String>, target: impl Into<String>) -> Entry {
    Entry {
        path: path.into(),
        node: Node::Symlink {
            target: target.into(),
        },
    }
}
