//! The roles part of the user forms: a global role, or rows of team + role (repeated fields
//! `team_id` and `team_role`, read in order), and its answer when a form was refused.

use flotilla::domain::identity::roles::Role;
use flotilla::domain::identity::users::TeamRole;
use flotilla::domain::teams::Team;
use flotilla::error::ApiError;
use maud::{html, Markup};

/// Team rows a form offers beyond the user's current ones.
const SPARE_ROWS: usize = 2;
/// At least this many team rows.
const MIN_ROWS: usize = 3;

/// Roles as a form holds them (a refused form shows them again as they were).
#[derive(Debug, Clone, Default)]
pub struct RolesInput {
    pub global_role: Option<Role>,
    pub teams: Vec<TeamRole>,
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "Admin",
        Role::Maintainer => "Maintainer",
        Role::ObserverPlus => "Observer+",
        Role::Observer => "Observer",
    }
}

/// The fields of a posted form: the last value of each single field, every value of a
/// repeated one.
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }

    /// A checkbox: present when ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The roles the form asks for; rows without a team are left out.
    pub fn roles(&self) -> Result<RolesInput, ApiError> {
        let parse_role = |value: &str| {
            Role::parse(value).ok_or_else(|| ApiError::bad_request(format!("no role {value:?}")))
        };
        let global_role = match self.get("global_role").unwrap_or_default() {
            "" => None,
            role => Some(parse_role(role)?),
        };
        let mut teams = Vec::new();
        for (team, role) in self.all("team_id").zip(self.all("team_role")) {
            if team.is_empty() {
                continue;
            }
            let id = team
                .parse()
                .map_err(|_| ApiError::bad_request(format!("no team {team:?}")))?;
            teams.push(TeamRole {
                id,
                role: parse_role(role)?,
            });
        }
        Ok(RolesInput { global_role, teams })
    }
}

/// The global role select and the team rows.
pub fn fields(input: &RolesInput, teams: &[Team]) -> Markup {
    let rows = (input.teams.len() + SPARE_ROWS).max(MIN_ROWS);
    html! {
        fieldset class="stack" {
            legend { "Role" }
            label for="global_role" { "Global role (every team)" }
            select id="global_role" name="global_role" aria-describedby="roles-hint" {
                option value="" selected[input.global_role.is_none()] { "None: roles on teams below" }
                @for role in Role::ALL {
                    option value=(role.as_str()) selected[input.global_role == Some(role)] { (role_label(role)) }
                }
            }
            p id="roles-hint" class="hint" { "A user has a global role or roles on teams, not both." }
            @if !teams.is_empty() {
                table {
                    caption class="muted" { "Team roles" }
                    thead { tr { th scope="col" { "Team" } th scope="col" { "Role on the team" } } }
                    tbody {
                        @for row in 0..rows {
                            @let current = input.teams.get(row);
                            tr {
                                td {
                                    label for=(format!("team_id_{row}")) class="visually-hidden" { "Team, row " (row + 1) }
                                    select id=(format!("team_id_{row}")) name="team_id" {
                                        option value="" selected[current.is_none()] { "No team" }
                                        @for team in teams {
                                            option value=(team.id) selected[current.is_some_and(|c| c.id == team.id)] { (team.name) }
                                        }
                                    }
                                }
                                td {
                                    label for=(format!("team_role_{row}")) class="visually-hidden" { "Role, row " (row + 1) }
                                    select id=(format!("team_role_{row}")) name="team_role" {
                                        @for role in Role::ALL {
                                            option value=(role.as_str()) selected[current.map_or(role == Role::Observer, |c| c.role == role)] { (role_label(role)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A user's roles in words.
pub fn describe(
    global_role: Option<Role>,
    teams: &[TeamRole],
    names: &std::collections::HashMap<u64, String>,
) -> Markup {
    html! {
        @if let Some(role) = global_role {
            (role_label(role)) " (global)"
        } @else if teams.is_empty() {
            span class="muted" { "none" }
        } @else {
            ul class="plain" {
                @for team in teams {
                    li { (names.get(&team.id).map(String::as_str).unwrap_or("a deleted team")) ": " (role_label(team.role)) }
                }
            }
        }
    }
}

/// Whether a refusal is the user's to fix (the form comes back with it) rather than a failure.
pub fn is_form_error(err: &ApiError) -> bool {
    matches!(
        err,
        ApiError::BadRequest(_) | ApiError::Conflict(_) | ApiError::NotFound(_)
    )
}
