//! Who an administrator is: sign-in with an external identity provider.

pub mod oidc;
