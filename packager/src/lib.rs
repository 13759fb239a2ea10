//! Builds fleetd installers the way `fleetctl package` lays them out (wire-contracts.md,
//! "fleetd packages"), in pure Rust, from Linux: the layout of what is installed, independent
//! of the format, and one writer per format (.deb, .rpm, .pkg, .msi).

pub mod build;
pub mod contents;
pub mod deb;
pub mod kind;
pub mod layout;
pub mod msi;
pub mod notary;
pub mod options;
pub mod pkg;
pub mod rpm;
pub mod update_repository;
pub mod xml;
