//! Adapters for the ports: `embedded` (one machine, the local default) and `aws`.

#[cfg(feature = "aws")]
pub mod aws;
pub mod counting;
pub mod embedded;
