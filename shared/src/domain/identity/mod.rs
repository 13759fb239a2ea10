//! Admin identity: users and roles, passwords, sessions and API tokens, the first admin,
//! login, and who is asking (`principal`). HTTP lives in `api/admin/`.

pub mod audit;
pub mod login;
pub mod passwords;
pub mod principal;
pub mod roles;
pub mod sessions;
pub mod setup;
pub mod sso_settings;
pub mod users;
