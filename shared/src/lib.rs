//! Flotilla's library: the domain, the HTTP API (one router for Lambda and the local server),
//! and the storage ports with their embedded and AWS adapters. See docs/ARCHITECTURE.md.

pub mod adapters;
pub mod api;
pub mod app;
pub mod clock;
pub mod domain;
pub mod error;
pub mod jobs;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod ports;
pub mod telemetry;

pub use app::{App, IdentitySettings, PackagerSettings, Ports, Settings};
