pub mod harness;
pub mod moto;
pub mod notary_stand_in;
pub mod oidc_provider;
pub mod osquery_client;
pub mod page_client;

/// Makes a test of each scenario (an `async fn(Family)` of the calling file) for both adapter
/// families: `embedded::<name>` and `moto::<name>`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Family::Embedded).await
                }
            )*
        }
        mod moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Family::Moto).await
                }
            )*
        }
    };
}

/// Makes a test of each scenario for both families with `admin()` calls made by a user of
/// this global role instead of the break-glass token: `<module>::embedded::<name>`, ...
#[macro_export]
macro_rules! as_role {
    ($module:ident, $role:literal, $($name:ident),* $(,)?) => {
        mod $module {
            mod embedded {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        $crate::harness::ADMIN_ROLE
                            .scope($role, super::super::$name($crate::harness::Family::Embedded))
                            .await
                    }
                )*
            }
            mod moto {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        $crate::harness::ADMIN_ROLE
                            .scope($role, super::super::$name($crate::harness::Family::Moto))
                            .await
                    }
                )*
            }
        }
    };
}
