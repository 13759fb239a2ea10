//! flotilla-agent's library: everything the binary does, in modules the integration tests
//! drive directly. Runs on endpoints in place of Fleet's orbit.

pub mod cli;
pub mod desktop;
pub mod device_token;
pub mod enrollment;
pub mod host_facts;
pub mod orbit_api;
pub mod osqueryd;
pub mod paths;
pub mod run;
pub mod settings;
pub mod supervisor;
pub mod tls;
pub mod updates;
