//! Admin identity: users and roles, passwords, sessions and API tokens, the first admin,
//! login, single sign-on (OpenID Connect), and who is asking (`principal`). HTTP lives in
//! `api/admin/`.

pub mod account;
pub mod audit;
pub mod login;
pub mod oidc;
pub mod passwords;
pub mod principal;
pub mod roles;
pub mod sessions;
pub mod setup;
pub mod sso;
pub mod sso_settings;
pub mod user_admin;
pub mod users;
