//! The shell every page shares: head, navigation (only what the viewer may use), content.

use flotilla::domain::identity::roles::Permission;
use maud::{html, Markup, DOCTYPE};

use crate::assets;
use crate::context::Viewer;

/// A navigation entry and the permission that shows it.
struct NavItem {
    path: &'static str,
    label: &'static str,
    permission: Permission,
    global: bool,
}

const NAV: &[NavItem] = &[
    NavItem {
        path: "/",
        label: "Dashboard",
        permission: Permission::ReadHosts,
        global: false,
    },
    NavItem {
        path: "/hosts",
        label: "Hosts",
        permission: Permission::ReadHosts,
        global: false,
    },
    NavItem {
        path: "/queries",
        label: "Queries",
        permission: Permission::ReadQueries,
        global: false,
    },
    // Every role may run some live query (RunAnyQuery implies RunSavedQueries).
    NavItem {
        path: "/live",
        label: "Live query",
        permission: Permission::RunSavedQueries,
        global: false,
    },
    NavItem {
        path: "/teams",
        label: "Teams",
        permission: Permission::ReadTeams,
        global: false,
    },
    NavItem {
        path: "/add-hosts",
        label: "Add hosts",
        permission: Permission::ReadEnrollSecrets,
        global: false,
    },
    NavItem {
        path: "/carves",
        label: "Carves",
        permission: Permission::ReadCarves,
        global: false,
    },
    NavItem {
        path: "/users",
        label: "Users",
        permission: Permission::ManageUsers,
        global: true,
    },
    NavItem {
        path: "/activity",
        label: "Activity",
        permission: Permission::ReadActivities,
        global: true,
    },
    NavItem {
        path: "/settings",
        label: "Settings",
        permission: Permission::ReadConfig,
        global: false,
    },
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · Flotilla" }
            link rel="icon" type="image/svg+xml" href=(assets::url("favicon.svg"));
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("app.js")) defer {}
        }
    }
}

/// Whether `path` is the section the viewer is in.
fn current(viewer_path: &str, item: &str) -> bool {
    if item == "/" {
        viewer_path == "/"
    } else {
        viewer_path == item || viewer_path.starts_with(&format!("{item}/"))
    }
}

/// A page for a signed-in viewer.
pub fn page(viewer: &Viewer, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "Flotilla" }
                    nav aria-label="Main" {
                        ul {
                            @for item in NAV {
                                @if (item.global && viewer.can_globally(item.permission))
                                    || (!item.global && viewer.can(item.permission)) {
                                    li {
                                        @if current(&viewer.path, item.path) {
                                            a href=(item.path) aria-current="page" { (item.label) }
                                        } @else {
                                            a href=(item.path) { (item.label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    div class="me" {
                        a href="/account" { (viewer.name()) }
                        form method="post" action="/logout" class="inline" {
                            (csrf_field(viewer))
                            button type="submit" class="link" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (content)
                }
            }
        }
    }
}

/// A page without the navigation (sign in, first-run setup, errors).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body class="bare" {
                main id="main" class="narrow" {
                    p class="brand" { "Flotilla" }
                    (content)
                }
            }
        }
    }
}

/// The hidden field that proves a form comes from our own page.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(viewer.csrf); }
}

/// A form with one button that deletes what `action` names, after the browser confirms
/// `confirm` (app.js).
pub fn delete_form(viewer: &Viewer, action: &str, confirm: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf_field(viewer))
            button type="submit" class="danger" data-confirm=(confirm) { (label) }
        }
    }
}

/// A notice after a POST-redirect-GET, from a fixed list (a link cannot make a page say
/// anything it likes).
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p class="notice" role="status" { (text) }
        }
    }
}

/// An error message above a form that was sent back.
pub fn form_error(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p class="error" role="alert" { (text) }
        }
    }
}

/// A time as people read it, the exact time on hover and for machines.
pub fn when(
    now: chrono::DateTime<chrono::Utc>,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Markup {
    html! {
        @match at {
            Some(at) => time datetime=(at.to_rfc3339()) title=(at.format("%Y-%m-%d %H:%M:%S UTC")) {
                (flotilla::api::time_text::time_ago(now, at))
            },
            None => span class="muted" { "never" },
        }
    }
}

/// A time to come as people read it ("in 25 minutes"), the exact time on hover.
pub fn until(now: chrono::DateTime<chrono::Utc>, at: chrono::DateTime<chrono::Utc>) -> Markup {
    let secs = (at - now).num_seconds();
    let text = match secs {
        s if s <= 0 => "now".to_string(),
        s if s < 120 => "in a minute or two".to_string(),
        s if s < 7200 => format!("in {} minutes", s / 60),
        s if s < 2 * 86_400 => format!("in {} hours", s / 3600),
        s => format!("in {} days", s / 86_400),
    };
    html! {
        time datetime=(at.to_rfc3339()) title=(at.format("%Y-%m-%d %H:%M:%S UTC")) { (text) }
    }
}
