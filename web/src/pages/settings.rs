//! Settings: the organization (name and contact link, shown on the My device page), the
//! server's URL (where it comes from), the installers' defaults (update channels, the update
//! server). Everyone with a role reads them (as `GET /api/v1/fleet/config`); global admins
//! change them, through `app_config::save` as the API's PATCH does.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flotilla::api::client_ip::ClientIp;
use flotilla::api::public_url::PublicUrl;
use flotilla::app::App;
use flotilla::domain::app_config::{
    self, AppConfigPatch, DefaultChannels, DefaultChannelsPatch, OrgInfoPatch, PackagerConfigPatch,
};
use flotilla::domain::identity::audit::ActedBy;
use flotilla::domain::identity::roles::Permission;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use super::see_other;
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;

/// The settings sections the viewer may open.
pub fn tabs(viewer: &Viewer, current: &str) -> Markup {
    let mut items = vec![("/settings", "Organization and installers")];
    if viewer.can_globally(Permission::ManageSso) {
        items.push(("/settings/sso", "Single sign-on"));
    }
    if viewer.can_globally(Permission::WriteAgentOptions) {
        items.push(("/settings/agent-options", "Agent options"));
    }
    html! {
        nav class="tabs" aria-label="Settings" {
            @for (path, label) in items {
                @if path == current {
                    a href=(path) aria-current="page" { (label) }
                } @else {
                    a href=(path) { (label) }
                }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct Shown {
    notice: Option<String>,
}

/// What the form holds.
#[derive(Deserialize, Default, Clone)]
pub struct Form {
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    contact_url: String,
    #[serde(default)]
    orbit_channel: String,
    #[serde(default)]
    osqueryd_channel: String,
    #[serde(default)]
    desktop_channel: String,
}

fn channel_field(id: &str, label: &str, value: &str, editable: bool) -> Markup {
    html! {
        label for=(id) { (label) }
        @if editable {
            input id=(id) name=(id) type="text" required maxlength="64" list="channels" value=(value) spellcheck="false";
        } @else {
            input id=(id) type="text" readonly value=(value);
        }
    }
}

fn render(
    app: &App,
    viewer: &Viewer,
    base: &str,
    form: &Form,
    notice: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let editable = viewer.can_globally(Permission::WriteConfig);
    let configured_url = app.settings.public_url.is_some();
    let fields = html! {
        fieldset class="stack" {
            legend { "Organization" }
            label for="org_name" { "Organization name" }
            input id="org_name" name="org_name" type="text" required maxlength="255" value=(form.org_name) readonly[!editable];
            label for="contact_url" { "Contact link" }
            input id="contact_url" name="contact_url" type="url" maxlength="2048" value=(form.contact_url) placeholder="https://help.example.com/" aria-describedby="contact-hint" readonly[!editable];
            p id="contact-hint" class="hint" { "Where employees ask for help: the My device page links to it (https or http only). Empty: no link." }
        }
        fieldset class="stack" {
            legend { "Installers' update channels" }
            p class="hint" { "The channels new installers' agents follow when their request names none: stable, edge, or a version such as 5.12." }
            (channel_field("orbit_channel", "Orbit (the agent)", &form.orbit_channel, editable))
            (channel_field("osqueryd_channel", "osqueryd", &form.osqueryd_channel, editable))
            (channel_field("desktop_channel", "Fleet Desktop", &form.desktop_channel, editable))
            datalist id="channels" { option value="stable" {} option value="edge" {} }
        }
    };
    layout::page(
        viewer,
        "Settings",
        html! {
            h1 { "Settings" }
            (tabs(viewer, "/settings"))
            (layout::notice(notice))
            (layout::form_error(error))
            @if editable {
                form method="post" action="/settings" class="stack" {
                    (layout::csrf_field(viewer))
                    (fields)
                    button type="submit" class="primary" { "Save settings" }
                }
            } @else {
                p class="hint" { "Only global admins change these." }
                (fields)
            }
            h2 { "Server" }
            dl class="facts" {
                dt { "Server URL" }
                dd {
                    code { (base) }
                    p class="hint" {
                        @if configured_url {
                            "Configured by the FLOTILLA_PUBLIC_URL environment variable of the functions."
                        } @else {
                            "Taken from this request's address; set FLOTILLA_PUBLIC_URL on the functions to fix it (links in installers, downloads and single sign-on use it)."
                        }
                    }
                }
                dt { "Installers' update server" }
                dd {
                    code { (app.settings.packager.update_url) }
                    p class="hint" { "Set by the deployment: FLOTILLA_PACKAGER_UPDATE_URL (AWS), --packager-update-url (flotilla-local)." }
                }
            }
        },
    )
}

fn form_of(config: &app_config::AppConfig) -> Form {
    let DefaultChannels {
        orbit,
        osqueryd,
        desktop,
    } = config.packager.default_channels.clone();
    Form {
        org_name: config.org_info.org_name.clone(),
        contact_url: config.org_info.contact_url.clone(),
        orbit_channel: orbit,
        osqueryd_channel: osqueryd,
        desktop_channel: desktop,
    }
}

/// `GET /settings`
pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    PublicUrl(base): PublicUrl,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let config = app_config::load(app.state()).await?;
    let notice = match q.notice.as_deref() {
        Some("saved") => Some("Settings are saved."),
        _ => None,
    };
    Ok(render(
        &app,
        &viewer,
        &base,
        &form_of(&config),
        notice,
        None,
    ))
}

/// A contact link the My device page will show: empty, or an http(s) URL.
fn check_contact(url: &str) -> Result<(), ApiError> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(());
    }
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => Ok(()),
        _ => Err(ApiError::bad_request(
            "the contact link must be an https:// or http:// address",
        )),
    }
}

/// `POST /settings`
pub async fn save(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(base): PublicUrl,
    viewer: Viewer,
    PageForm(form): PageForm<Form>,
) -> ApiResult<Response> {
    let result = match (form.org_name.trim(), check_contact(&form.contact_url)) {
        ("", _) => Err(ApiError::bad_request("the organization needs a name")),
        (_, Err(err)) => Err(err),
        (name, Ok(())) => {
            let patch = AppConfigPatch {
                org_info: Some(OrgInfoPatch {
                    org_name: Some(name.to_string()),
                    contact_url: Some(form.contact_url.trim().to_string()),
                    ..OrgInfoPatch::default()
                }),
                packager: Some(PackagerConfigPatch {
                    default_channels: Some(DefaultChannelsPatch {
                        orbit: Some(form.orbit_channel.clone()),
                        osqueryd: Some(form.osqueryd_channel.clone()),
                        desktop: Some(form.desktop_channel.clone()),
                    }),
                }),
                ..AppConfigPatch::default()
            };
            app_config::save(&app, &ActedBy::new(&viewer.principal, &ip), patch).await
        }
    };
    match result {
        Ok(_) => Ok(see_other("/settings?notice=saved")),
        Err(err @ ApiError::BadRequest(_)) => {
            let page = render(&app, &viewer, &base, &form, None, Some(&err.to_string()));
            Ok((err.status(), page).into_response())
        }
        Err(err) => Err(err),
    }
}
