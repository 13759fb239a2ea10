//! Flotilla's cross-package tests in one binary: one link instead of one per file saves
//! minutes and gigabytes of disk on a CI machine. Tests that install a process-wide tracing
//! subscriber (`secrets_in_logs`, `desktop_logs`) stay in binaries of their own.
//! Run one file's tests with `cargo test -p flotilla-tests --test suite <file>::`.

// agent/tests/common's TUF repository and file server, for packager and add_hosts_pages.
#[path = "../../../agent/tests/common/server.rs"]
#[allow(dead_code)]
mod server;
#[path = "../../../agent/tests/common/tuf.rs"]
#[allow(dead_code)]
mod tuf;

mod activities;
mod add_hosts_pages;
mod api;
mod campaigns_scale;
mod carves;
mod carves_pages;
mod desktop;
mod host_admin;
mod host_listing;
mod hosts_pages;
mod identity;
mod lambda_event;
mod live_pages;
mod orbit;
mod packager;
mod page_permissions;
mod permissions;
mod ports;
mod queries_pages;
mod routes;
mod settings_pages;
mod sso;
mod sso_oidc;
mod teams_admin;
mod teams_pages;
mod users_pages;
