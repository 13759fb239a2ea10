//! flotilla-agent's library: everything the binary does, in modules the integration tests
//! drive directly. Runs on endpoints in place of Fleet's orbit.

pub mod cli;
pub mod paths;
pub mod tls;
pub mod updates;
