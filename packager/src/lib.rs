//! Builds fleetd installers the way `fleetctl package` lays them out (wire-contracts.md,
//! "fleetd packages"), in pure Rust, from Linux: the layout of what is installed, independent
//! of the format, and one writer per format (.deb so far).

pub mod deb;
pub mod layout;
pub mod options;
pub mod rpm;
