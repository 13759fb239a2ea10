//! Single sign-on settings (OpenID Connect): the provider, just-in-time accounts, whether
//! passwords are refused. Saved through `sso_settings::save`, as the API's PATCH is: enabling
//! SSO first reaches the provider. The client secret is the deployment's, not set here.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use flotilla::api::admin::sso::CALLBACK_PATH;
use flotilla::api::client_ip::ClientIp;
use flotilla::api::public_url::PublicUrl;
use flotilla::app::App;
use flotilla::domain::identity::audit::ActedBy;
use flotilla::domain::identity::roles::Role;
use flotilla::domain::identity::sso_settings::{self, SsoSettings, SsoSettingsPatch};
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use super::see_other;
use super::settings::tabs;
use crate::context::Viewer;
use crate::forms::PageForm;
use crate::layout;
use crate::pages::users::roles_form::role_label;

#[derive(Deserialize, Default)]
pub struct Shown {
    notice: Option<String>,
}

fn check(id: &str, name: &str, label: &str, checked: bool, hint: Option<&str>) -> Markup {
    let hint_id = format!("{id}-hint");
    html! {
        div class="check" {
            @if let Some(hint) = hint {
                input id=(id) name=(name) type="checkbox" value="true" checked[checked] aria-describedby=(hint_id);
                label for=(id) { (label) }
                p id=(hint_id) class="hint" { (hint) }
            } @else {
                input id=(id) name=(name) type="checkbox" value="true" checked[checked];
                label for=(id) { (label) }
            }
        }
    }
}

fn render(
    app: &App,
    viewer: &Viewer,
    base: &str,
    settings: &SsoSettings,
    notice: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let secret_configured = app.settings.identity.sso_client_secret.is_some();
    layout::page(
        viewer,
        "Single sign-on",
        html! {
            h1 { "Single sign-on" }
            (tabs(viewer, "/settings/sso"))
            (layout::notice(notice))
            p { "People sign in with your OpenID Connect identity provider (Okta, Entra ID, Google, Keycloak...)." }
            h2 { "At the provider" }
            dl class="facts" {
                dt { "Redirect (callback) URL" }
                dd { code { (base) (CALLBACK_PATH) } }
                dt { "Client secret" }
                dd {
                    @if secret_configured { "Configured" } @else { "Not configured" }
                    p class="hint" {
                        "The client secret is set by the deployment, not here: the "
                        code { "SsoClientSecretArn" } " template parameter (a Secrets Manager secret) on AWS, or "
                        code { "--sso-client-secret-file" } " for flotilla-local."
                    }
                }
            }
            h2 { "Settings" }
            (layout::form_error(error))
            form method="post" action="/settings/sso" class="stack" {
                (layout::csrf_field(viewer))
                (check("enable_sso", "enable_sso", "Enable single sign-on", settings.enable_sso,
                    Some("Saving with this on checks the issuer and client id with the provider.")))
                label for="idp_name" { "Provider name (on the sign-in button)" }
                input id="idp_name" name="idp_name" type="text" maxlength="100" value=(settings.idp_name);
                label for="issuer_url" { "Issuer URL" }
                input id="issuer_url" name="issuer_url" type="url" value=(settings.issuer_url) placeholder="https://login.example.com/";
                label for="client_id" { "Client id" }
                input id="client_id" name="client_id" type="text" value=(settings.client_id) autocomplete="off";
                (check("enable_jit_provisioning", "enable_jit_provisioning", "Create accounts at first sign-in (just-in-time provisioning)", settings.enable_jit_provisioning, None))
                label for="jit_default_role" { "Global role of such accounts" }
                select id="jit_default_role" name="jit_default_role" {
                    @for role in Role::ALL {
                        option value=(role.as_str()) selected[settings.jit_default_role == role] { (role_label(role)) }
                    }
                }
                (check("sso_required", "sso_required", "Require single sign-on (refuse passwords)", settings.sso_required,
                    Some("API tokens and the break-glass token keep working.")))
                (check("trust_unverified_email", "trust_unverified_email", "Accept emails the provider does not mark verified", settings.trust_unverified_email,
                    Some("Entra ID often sends no email_verified claim; leave this off unless your provider needs it.")))
                button type="submit" class="primary" { "Save single sign-on settings" }
            }
        },
    )
}

/// `GET /settings/sso`
pub async fn show(
    State(app): State<App>,
    viewer: Viewer,
    PublicUrl(base): PublicUrl,
    Query(q): Query<Shown>,
) -> ApiResult<Markup> {
    let settings = sso_settings::load(app.state()).await?;
    let notice = match q.notice.as_deref() {
        Some("saved") => Some("Single sign-on settings are saved."),
        _ => None,
    };
    Ok(render(&app, &viewer, &base, &settings, notice, None))
}

#[derive(Deserialize)]
pub struct Form {
    #[serde(default)]
    enable_sso: Option<String>,
    #[serde(default)]
    idp_name: String,
    #[serde(default)]
    issuer_url: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    enable_jit_provisioning: Option<String>,
    #[serde(default)]
    jit_default_role: String,
    #[serde(default)]
    sso_required: Option<String>,
    #[serde(default)]
    trust_unverified_email: Option<String>,
}

/// `POST /settings/sso`
pub async fn save(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(base): PublicUrl,
    viewer: Viewer,
    PageForm(form): PageForm<Form>,
) -> ApiResult<Response> {
    let role = Role::parse(&form.jit_default_role)
        .ok_or_else(|| ApiError::bad_request(format!("no role {:?}", form.jit_default_role)))?;
    // What the form asks for, shown again as typed if it is refused.
    let asked = SsoSettings {
        enable_sso: form.enable_sso.is_some(),
        idp_name: form.idp_name,
        issuer_url: form.issuer_url,
        client_id: form.client_id,
        enable_jit_provisioning: form.enable_jit_provisioning.is_some(),
        jit_default_role: role,
        sso_required: form.sso_required.is_some(),
        trust_unverified_email: form.trust_unverified_email.is_some(),
    };
    let patch = SsoSettingsPatch {
        enable_sso: Some(asked.enable_sso),
        idp_name: Some(asked.idp_name.clone()),
        issuer_url: Some(asked.issuer_url.clone()),
        client_id: Some(asked.client_id.clone()),
        enable_jit_provisioning: Some(asked.enable_jit_provisioning),
        jit_default_role: Some(asked.jit_default_role),
        sso_required: Some(asked.sso_required),
        trust_unverified_email: Some(asked.trust_unverified_email),
    };
    match sso_settings::save(&app, &ActedBy::new(&viewer.principal, &ip), patch).await {
        Ok(_) => Ok(see_other("/settings/sso?notice=saved")),
        Err(err @ ApiError::BadRequest(_)) => {
            let page = render(&app, &viewer, &base, &asked, None, Some(&err.to_string()));
            Ok((err.status(), page).into_response())
        }
        Err(err) => Err(err),
    }
}
