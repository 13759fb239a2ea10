//! Roles and the one permission table. Every admin route names the permission it needs
//! (`api/routes.rs`); `api/admin/auth.rs` checks it before any handler runs, and handlers that
//! act on one team's resources check that team through `Principal::require`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fleet's roles, globally or per team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Observer,
    ObserverPlus,
    Maintainer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::Maintainer,
        Role::ObserverPlus,
        Role::Observer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Observer => "observer",
            Role::ObserverPlus => "observer_plus",
            Role::Maintainer => "maintainer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }

    /// The permission table.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            OwnAccount | ReadHosts | ReadQueries | RunSavedQueries | ReadCampaigns | ReadTeams
            | ReadConfig | ReadActivities => true,
            RunAnyQuery => self >= Role::ObserverPlus,
            WriteQueries | ReadCarves | ReadEnrollSecrets | WriteEnrollSecrets | WriteHosts
            | BuildInstallers => self >= Role::Maintainer,
            WriteAgentOptions | ManageTeams | WriteConfig | ManageUsers | ManageSso => {
                self == Role::Admin
            }
        }
    }
}

/// What a request may need. Global-only permissions act on deployment-wide things (users,
/// settings, SSO, the activity log, creating teams): a team role never grants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Me, logout, change my password, my API token: every signed-in user's, even one left
    /// with no role (their only team was deleted).
    OwnAccount,
    ReadHosts,
    /// Delete hosts, transfer them between teams, refetch.
    WriteHosts,
    ReadQueries,
    WriteQueries,
    /// Run saved queries marked `observer_can_run` (any role).
    RunSavedQueries,
    /// Run any SQL, saved or not (observer_plus and up).
    RunAnyQuery,
    ReadCampaigns,
    ReadCarves,
    ReadEnrollSecrets,
    WriteEnrollSecrets,
    ReadTeams,
    /// Create teams (global), and a team's own settings.
    ManageTeams,
    WriteAgentOptions,
    ReadConfig,
    WriteConfig,
    ManageUsers,
    ManageSso,
    ReadActivities,
    BuildInstallers,
}

impl Permission {
    /// Permissions over deployment-wide resources: granted by a global role only.
    pub fn is_global_only(self) -> bool {
        matches!(
            self,
            Permission::ManageUsers
                | Permission::ManageSso
                | Permission::WriteConfig
                | Permission::ReadActivities
        )
    }
}

/// Where a resource lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Deployment-wide (global queries, the global enroll secrets, settings).
    Global,
    Team(u64),
}

impl Scope {
    pub fn of(team_id: Option<u64>) -> Scope {
        team_id.map_or(Scope::Global, Scope::Team)
    }
}

/// A user's roles: one global role, or roles on some teams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    pub global: Option<Role>,
    pub teams: BTreeMap<u64, Role>,
}

/// The teams a principal may act on for some permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamFilter {
    /// A global role: everything, including hosts in no team.
    All,
    /// Only these teams (hosts and queries of no team are out of reach).
    Only(Vec<u64>),
}

impl TeamFilter {
    pub fn includes(&self, team_id: Option<u64>) -> bool {
        match (self, team_id) {
            (TeamFilter::All, _) => true,
            (TeamFilter::Only(teams), Some(team)) => teams.contains(&team),
            (TeamFilter::Only(_), None) => false,
        }
    }
}

impl Roles {
    pub fn global(role: Role) -> Self {
        Roles {
            global: Some(role),
            teams: BTreeMap::new(),
        }
    }

    /// Whether this permission is granted on this scope.
    pub fn can(&self, permission: Permission, scope: Scope) -> bool {
        if permission == Permission::OwnAccount {
            return true;
        }
        if self.global.is_some_and(|role| role.allows(permission)) {
            return true;
        }
        match scope {
            Scope::Global => false,
            Scope::Team(team) => {
                !permission.is_global_only()
                    && self
                        .teams
                        .get(&team)
                        .is_some_and(|role| role.allows(permission))
            }
        }
    }

    /// Whether this permission is granted anywhere at all (the route-level check).
    pub fn can_somewhere(&self, permission: Permission) -> bool {
        permission == Permission::OwnAccount
            || self.global.is_some_and(|role| role.allows(permission))
            || (!permission.is_global_only()
                && self.teams.values().any(|role| role.allows(permission)))
    }

    pub fn teams_with(&self, permission: Permission) -> TeamFilter {
        if self.global.is_some_and(|role| role.allows(permission)) {
            return TeamFilter::All;
        }
        if permission.is_global_only() {
            return TeamFilter::Only(Vec::new());
        }
        TeamFilter::Only(
            self.teams
                .iter()
                .filter(|(_, role)| role.allows(permission))
                .map(|(team, _)| *team)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_by_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).ok(),
                Some(serde_json::json!(role.as_str()))
            );
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn team_roles_reach_their_team_only() {
        let roles = Roles {
            global: None,
            teams: BTreeMap::from([(1, Role::Maintainer), (2, Role::Observer)]),
        };
        assert!(roles.can(Permission::WriteQueries, Scope::Team(1)));
        assert!(!roles.can(Permission::WriteQueries, Scope::Team(2)));
        assert!(!roles.can(Permission::WriteQueries, Scope::Global));
        assert!(!roles.can(Permission::ReadHosts, Scope::Team(3)));
        assert_eq!(
            roles.teams_with(Permission::WriteQueries),
            TeamFilter::Only(vec![1])
        );
        assert_eq!(
            roles.teams_with(Permission::ReadHosts),
            TeamFilter::Only(vec![1, 2])
        );
        // A team admin is not a user admin.
        let team_admin = Roles {
            global: None,
            teams: BTreeMap::from([(1, Role::Admin)]),
        };
        assert!(!team_admin.can_somewhere(Permission::ManageUsers));
        assert!(team_admin.can(Permission::WriteAgentOptions, Scope::Team(1)));
    }

    #[test]
    fn a_user_without_roles_reaches_only_their_account() {
        let none = Roles::default();
        assert!(none.can_somewhere(Permission::OwnAccount));
        assert!(none.can(Permission::OwnAccount, Scope::Global));
        assert!(!none.can_somewhere(Permission::ReadHosts));
        assert!(!none.can_somewhere(Permission::ReadTeams));
        assert_eq!(
            none.teams_with(Permission::ReadHosts),
            TeamFilter::Only(vec![])
        );
    }

    #[test]
    fn observers_run_saved_queries_only() {
        let observer = Roles::global(Role::Observer);
        assert!(observer.can(Permission::RunSavedQueries, Scope::Global));
        assert!(!observer.can(Permission::RunAnyQuery, Scope::Global));
        assert!(Roles::global(Role::ObserverPlus).can(Permission::RunAnyQuery, Scope::Global));
        assert!(!Roles::global(Role::Maintainer).can(Permission::ManageUsers, Scope::Global));
        assert!(Roles::global(Role::Admin).can(Permission::ManageSso, Scope::Global));
    }
}
