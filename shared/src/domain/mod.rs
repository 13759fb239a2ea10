//! Domain logic over the state port. Knows nothing of HTTP or AWS.

pub mod activities;
pub mod agent_options;
pub mod app_config;
pub mod blob_files;
pub mod campaigns;
pub mod carve_assembly;
pub mod carves;
pub mod credentials;
pub mod detail_queries;
pub mod distributed;
pub mod enroll_secrets;
pub mod host_auth;
pub mod host_changes;
pub mod hosts;
pub mod identity;
pub mod layout;
pub mod live;
pub mod orbit;
pub mod packages;
pub mod query_admin;
pub mod rate_limit;
pub mod records;
pub mod scheduled_queries;
pub mod team_admin;
pub mod team_removal;
pub mod teams;
