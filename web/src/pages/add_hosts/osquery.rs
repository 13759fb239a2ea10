//! Plain osquery: the flag file (Fleet's "Add hosts" flags, our endpoints), the enroll secret
//! file and the server's certificate, as downloads.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use flotilla::api::public_url::PublicUrl;
use flotilla::app::App;
use flotilla::error::{ApiError, ApiResult};
use maud::{html, Markup};
use serde::Deserialize;

use super::chosen_scope;
use crate::context::Viewer;

/// The file names the flag file refers to (run osqueryd where these three files are).
pub const SECRET_FILE: &str = "secret.txt";
pub const CERT_FILE: &str = "server.pem";
pub const FLAG_FILE: &str = "osquery.flags";

/// osquery's flags for this server: `--tls_hostname` is the public URL's host (and port),
/// every endpoint carries the URL's path prefix.
pub fn flag_file(base: &str, with_certificate: bool) -> ApiResult<String> {
    let url = url::Url::parse(base)
        .map_err(|e| ApiError::Internal(format!("the public URL {base:?}: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| ApiError::Internal(format!("the public URL {base:?} has no host")))?;
    let hostname = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let prefix = url.path().trim_end_matches('/');
    let mut lines = vec![
        format!("--tls_hostname={hostname}"),
        format!("--enroll_secret_path={SECRET_FILE}"),
    ];
    if with_certificate {
        lines.push(format!("--tls_server_certs={CERT_FILE}"));
    }
    lines.extend(
        [
            "--host_identifier=uuid",
            "--enroll_tls_endpoint=@/api/v1/osquery/enroll",
            "--config_plugin=tls",
            "--config_tls_endpoint=@/api/v1/osquery/config",
            "--config_refresh=60",
            "--disable_distributed=false",
            "--distributed_plugin=tls",
            "--distributed_interval=10",
            "--distributed_tls_max_attempts=10",
            "--distributed_tls_read_endpoint=@/api/v1/osquery/distributed/read",
            "--distributed_tls_write_endpoint=@/api/v1/osquery/distributed/write",
            "--logger_plugin=tls",
            "--logger_tls_endpoint=@/api/v1/osquery/log",
            "--logger_tls_period=10",
            "--disable_carver=false",
            "--carver_disable_function=false",
            "--carver_start_endpoint=@/api/v1/osquery/carve/begin",
            "--carver_continue_endpoint=@/api/v1/osquery/carve/block",
            "--carver_block_size=2000000",
        ]
        .iter()
        .map(|line| line.replace('@', prefix)),
    );
    Ok(lines.join("\n") + "\n")
}

/// The plain osquery part of the page.
pub fn section(base: &str, team: &str, with_certificate: bool, https: bool) -> Markup {
    html! {
        p { "Download these files into one directory on the host, then run osqueryd there:" }
        ul {
            li { a href=(format!("/add-hosts/{FLAG_FILE}?team={team}")) download { "Flag file (" (FLAG_FILE) ")" } }
            li { a href=(format!("/add-hosts/{SECRET_FILE}?team={team}")) download { "Enroll secret (" (SECRET_FILE) ")" } }
            @if with_certificate {
                li { a href=(format!("/add-hosts/{CERT_FILE}")) download { "Server certificate (" (CERT_FILE) ")" } }
            }
        }
        pre tabindex="0" { code { "osqueryd --flagfile=" (FLAG_FILE) } }
        @if !with_certificate {
            p class="hint" {
                "This server has no certificate of its own to hand out: osquery checks it against the system's trusted authorities. (flotilla-local serving HTTPS with --tls-cert or --tls-self-signed offers its certificate here.)"
            }
        }
        @if !https {
            p class="error" role="alert" {
                "osquery talks to its server over HTTPS only, and this server's address is "
                code { (base) }
                ": serve it over HTTPS (or set its public URL) before enrolling osquery hosts."
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ForTeam {
    team: Option<String>,
}

fn attachment(file_name: &str, content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /add-hosts/osquery.flags?team=`: the flag file (for a scope whose secrets the viewer
/// may read, like the page).
pub async fn flags(
    State(app): State<App>,
    PublicUrl(base): PublicUrl,
    viewer: Viewer,
    Query(q): Query<ForTeam>,
) -> ApiResult<Response> {
    chosen_scope(&app, &viewer.principal, q.team.as_deref()).await?;
    let body = flag_file(&base, app.settings.server_certificate.is_some())?;
    Ok(attachment(FLAG_FILE, "text/plain; charset=utf-8", body))
}

/// `GET /add-hosts/secret.txt?team=`: the scope's enroll secret, to those who may read it.
pub async fn secret(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<ForTeam>,
) -> ApiResult<Response> {
    let (_, secrets) = chosen_scope(&app, &viewer.principal, q.team.as_deref()).await?;
    let secret = secrets
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("there is no enroll secret for this team yet"))?;
    Ok(attachment(
        SECRET_FILE,
        "text/plain; charset=utf-8",
        secret.secret,
    ))
}

/// `GET /add-hosts/server.pem`: the certificate this server presents, when it has one to hand
/// out (flotilla-local serving HTTPS).
pub async fn certificate(State(app): State<App>, _viewer: Viewer) -> ApiResult<Response> {
    let pem = app.settings.server_certificate.clone().ok_or_else(|| {
        ApiError::not_found(
            "this server has no certificate to hand out: agents trust its public certificate through the system's authorities",
        )
    })?;
    Ok(attachment(CERT_FILE, "application/x-pem-file", pem))
}

#[cfg(test)]
mod tests {
    use super::flag_file;

    #[test]
    fn flags_carry_the_host_port_and_prefix() {
        let flags = flag_file("https://fleet.example.com:8443/prefix", true).unwrap_or_default();
        assert!(flags.contains("--tls_hostname=fleet.example.com:8443\n"));
        assert!(flags.contains("--enroll_tls_endpoint=/prefix/api/v1/osquery/enroll\n"));
        assert!(flags.contains("--tls_server_certs=server.pem\n"));
        let flags = flag_file("https://fleet.example.com", false).unwrap_or_default();
        assert!(flags.contains("--tls_hostname=fleet.example.com\n"));
        assert!(flags.contains("--config_tls_endpoint=/api/v1/osquery/config\n"));
        assert!(!flags.contains("tls_server_certs"));
    }
}
