//! flotilla-local: every route of template.yaml on one port, over the embedded adapters
//! (redb state, a blob directory, a durable queue, files for logs) in `--data-dir`.

mod credentials;
mod package;
mod tls;

use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use flotilla::adapters::embedded::EmbeddedPorts;
use flotilla::api::Group;
use flotilla::clock::SystemClock;
use flotilla::domain::enroll_secrets;
use flotilla::domain::identity::setup;
use flotilla::{App, IdentitySettings, PackagerSettings, Settings};

#[derive(Parser)]
#[command(name = "flotilla-local", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Print every route as "<function> <METHOD> <path>" and exit.
    Routes,
    /// Build one installer here, with the packager service's code (like `fleetctl package`).
    Package(Box<package::PackageArgs>),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Where state, blobs, the queue and logs are kept.
    #[arg(long, default_value = ".flotilla")]
    data_dir: PathBuf,
    /// Serve HTTPS with this PEM certificate (chain).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed localhost certificate kept in the data dir.
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// Days to keep file carves.
    #[arg(long, env = "FLOTILLA_CARVE_EXPIRY_DAYS", default_value_t = Settings::DEFAULT_CARVE_EXPIRY_DAYS,
          value_parser = clap::value_parser!(u32).range(1..))]
    carve_expiry_days: u32,
    /// Minutes a built package can be downloaded before it is deleted.
    #[arg(long, env = "FLOTILLA_PACKAGE_EXPIRY_MINUTES", default_value_t = PackagerSettings::DEFAULT_EXPIRY_MINUTES,
          value_parser = clap::value_parser!(u32).range(1..))]
    package_expiry_minutes: u32,
    /// The update repository packages are built from, unless a request names another.
    #[arg(long, env = "FLOTILLA_PACKAGER_UPDATE_URL", default_value = PackagerSettings::DEFAULT_UPDATE_URL)]
    packager_update_url: String,
    /// That repository's trusted root.json (requests without `update_roots` need it).
    #[arg(long, env = "FLOTILLA_PACKAGER_UPDATE_ROOT")]
    packager_update_root: Option<PathBuf>,
    #[command(flatten)]
    signing: package::SigningArgs,
    /// App Store Connect API key (JSON: issuer_id, key_id, private_key) to notarize signed
    /// .pkg installers with.
    #[arg(
        long,
        env = "FLOTILLA_PACKAGER_NOTARY_CREDENTIALS",
        requires = "macos_devid_pem"
    )]
    packager_notary_credentials: Option<PathBuf>,
    /// Hours a browser or API session may sit unused before it ends.
    #[arg(long, env = "FLOTILLA_SESSION_IDLE_HOURS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..))]
    session_idle_hours: u32,
    /// Hours a session lasts at most, however busy.
    #[arg(long, env = "FLOTILLA_SESSION_LIFETIME_HOURS", default_value_t = 168,
          value_parser = clap::value_parser!(u32).range(1..))]
    session_lifetime_hours: u32,
    /// Days an API-only user's token lasts unless "never" is asked for.
    #[arg(long, env = "FLOTILLA_API_TOKEN_DAYS", default_value_t = IdentitySettings::DEFAULT_API_TOKEN_DAYS,
          value_parser = clap::value_parser!(u32).range(1..))]
    api_token_days: u32,
    /// Days the activity log keeps each entry.
    #[arg(long, env = "FLOTILLA_ACTIVITY_RETENTION_DAYS", default_value_t = IdentitySettings::DEFAULT_ACTIVITY_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..))]
    activity_retention_days: u32,
    /// A file holding the OpenID Connect client secret for single sign-on.
    #[arg(long, env = "FLOTILLA_SSO_CLIENT_SECRET_FILE")]
    sso_client_secret_file: Option<PathBuf>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The message as written (a returned error would be printed in its Debug form).
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Some(Command::Routes) => {
            for route in flotilla_web::route_table() {
                println!(
                    "{} {} {}",
                    route.group.function_id(),
                    route.method,
                    route.path
                );
            }
            Ok(())
        }
        Some(Command::Package(args)) => package::run(*args).await,
        None => {
            flotilla::telemetry::init(false);
            serve(cli.serve).await
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), Error> {
    std::fs::create_dir_all(&args.data_dir)?;
    let loaded = credentials::load(&args.data_dir)?;
    let creds = loaded.credentials;
    let mut secrets = HashMap::from([
        (
            Settings::LOCAL_ADMIN_TOKEN.to_string(),
            creds.admin_token.clone(),
        ),
        (
            PackagerSettings::LOCAL_KEY.to_string(),
            credentials::packager_key(&args.data_dir)?,
        ),
    ]);
    let mut settings = Settings::new(Settings::LOCAL_ADMIN_TOKEN);
    args.signing.apply(&mut settings.packager, &mut secrets)?;
    if let Some(path) = &args.packager_notary_credentials {
        secrets.insert(
            PackagerSettings::LOCAL_NOTARY_CREDENTIALS.to_string(),
            package::read_file(path, "--packager-notary-credentials")?,
        );
        settings.packager.notary_secret = Some(PackagerSettings::LOCAL_NOTARY_CREDENTIALS.into());
    }
    settings.identity.sessions.idle_secs = i64::from(args.session_idle_hours) * 3600;
    settings.identity.sessions.lifetime_secs = i64::from(args.session_lifetime_hours) * 3600;
    settings.identity.api_token_days = args.api_token_days;
    settings.identity.activity_retention_days = args.activity_retention_days;
    if let Some(path) = &args.sso_client_secret_file {
        let secret = package::read_file(path, "--sso-client-secret-file")?;
        secrets.insert(
            IdentitySettings::LOCAL_SSO_CLIENT_SECRET.to_string(),
            secret.trim().to_string(),
        );
        settings.identity.sso_client_secret =
            Some(IdentitySettings::LOCAL_SSO_CLIENT_SECRET.into());
    }
    let ports = EmbeddedPorts::open(&args.data_dir, Arc::new(SystemClock), secrets)?;
    settings.carve_expiry_days = args.carve_expiry_days;
    settings.packager.expiry_minutes = args.package_expiry_minutes;
    settings.packager.update_url = args.packager_update_url.clone();
    if let Some(path) = &args.packager_update_root {
        settings.packager.update_root = Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--packager-update-root {}: {e}", path.display()))?,
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => Some((cert.clone(), key.clone())),
        (_, _, true) => Some(tls::self_signed(&args.data_dir)?),
        _ => None,
    };
    // The Add hosts page hands it to agents (osquery's --tls_server_certs).
    if let Some((cert, _)) = &tls {
        settings.server_certificate = Some(package::read_file(cert, "--tls-cert")?);
    }
    let app = App::new(ports, settings);
    seed_enroll_secret(&app, &creds.enroll_secret).await?;
    // Background jobs (carve assembly, package builds and sweeps), as the jobs and
    // packager-worker Lambdas run them on AWS.
    tokio::spawn(flotilla::jobs::worker::run(app.clone()));

    let scheme = if tls.is_some() { "https" } else { "http" };
    // To the operator's terminal, not through the log; secrets stay in credentials.json.
    println!("Flotilla is serving on {scheme}://{}", args.addr);
    println!("  data dir:      {}", args.data_dir.display());
    println!(
        "  credentials:   {} (enroll secret, break-glass admin token; mode 0600{})",
        args.data_dir.join("credentials.json").display(),
        if loaded.generated_now {
            ", generated now"
        } else {
            ""
        }
    );
    if let Some((cert, _)) = &tls {
        println!(
            "  certificate:   {} (osquery: --tls_server_certs)",
            cert.display()
        );
    }
    // While no admin exists, a one-time link to create the first one (a new link each start;
    // it stops working once used).
    if let Some(token) = setup::issue_setup_token(app.state()).await? {
        println!(
            "  first admin:   {scheme}://{}/setup?token={token}",
            args.addr
        );
        println!(
            "                 (or POST /api/v1/setup with Authorization: Bearer <that token>)"
        );
    }
    println!("Press Ctrl-C to stop.");

    let router = flotilla_web::router(app, &Group::ALL);
    match tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
            let handle = axum_server::Handle::new();
            let shutdown = handle.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            axum_server::bind_rustls(args.addr, config)
                .handle(handle)
                .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                .await?;
        }
        None => {
            let listener = tokio::net::TcpListener::bind(args.addr).await?;
            // The peer address feeds per-address rate limits (invalid device tokens).
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        }
    }
    Ok(())
}

/// Makes sure the configured secret is one of the global enroll secrets.
async fn seed_enroll_secret(app: &App, secret: &str) -> Result<(), Error> {
    let store = app.state();
    if enroll_secrets::find(store, secret).await?.is_some() {
        return Ok(());
    }
    let mut wanted: Vec<Option<String>> = enroll_secrets::list(store, None)
        .await?
        .into_iter()
        .map(|s| Some(s.secret))
        .collect();
    wanted.push(Some(secret.to_string()));
    enroll_secrets::replace(store, app.clock.now(), None, wanted)
        .await
        .map_err(|e| format!("could not seed the enroll secret: {e}"))?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
