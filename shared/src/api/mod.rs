//! The HTTP API: one router, served by Lambda (per function group) and by flotilla-local.

pub mod admin;
pub mod blob_download;
pub mod body;
pub mod client_ip;
pub mod desktop;
pub mod fallback;
pub mod health;
pub mod orbit;
pub mod osquery;
pub mod packager;
pub mod public_url;
pub mod request_log;
pub mod routes;
pub mod time_text;

pub use routes::{router, Group};
