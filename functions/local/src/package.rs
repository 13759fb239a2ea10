//! `flotilla-local package`: builds one installer on this machine with the packager service's
//! own code (the same request checks, target fetching and builders), like `fleetctl package`.
//! Targets are cached in the data dir's blob store, shared with a running server.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flotilla::adapters::embedded::{DirBlobs, EmbeddedPorts};
use flotilla::clock::SystemClock;
use flotilla::domain::packages::build::{build_file, Step};
use flotilla::domain::packages::request::CreateRequest;
use flotilla::domain::packages::signing::sign_file;
use flotilla::{App, PackagerSettings, Settings};
use packager::kind::PackageType;
use packager::pkg::sign::SigningIdentity;

#[derive(clap::Args)]
pub struct PackageArgs {
    /// Installer type.
    #[arg(long = "type", value_parser = ["deb", "rpm", "pkg", "msi"])]
    kind: String,
    #[arg(long)]
    fleet_url: String,
    #[arg(long, env = "ENROLL_SECRET", hide_env_values = true)]
    enroll_secret: String,
    /// PEM file of the Fleet server's certificate chain.
    #[arg(long)]
    fleet_certificate: Option<PathBuf>,
    #[arg(long)]
    insecure: bool,
    #[arg(long)]
    osqueryd_channel: Option<String>,
    #[arg(long)]
    desktop_channel: Option<String>,
    #[arg(long)]
    orbit_channel: Option<String>,
    #[arg(long)]
    disable_updates: bool,
    #[arg(long)]
    debug: bool,
    #[arg(long)]
    fleet_desktop: bool,
    #[arg(long)]
    update_interval: Option<String>,
    /// File of osquery flags to package.
    #[arg(long)]
    osquery_flagfile: Option<PathBuf>,
    /// Install with a persistence service (systemd, launchd, Windows service).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    service: bool,
    #[arg(long)]
    enable_scripts: bool,
    #[arg(long)]
    host_identifier: Option<String>,
    #[arg(long, requires = "fleet_tls_client_key")]
    fleet_tls_client_certificate: Option<PathBuf>,
    #[arg(long, requires = "fleet_tls_client_certificate")]
    fleet_tls_client_key: Option<PathBuf>,
    #[arg(long, requires = "update_tls_client_key")]
    update_tls_client_certificate: Option<PathBuf>,
    #[arg(long, requires = "update_tls_client_certificate")]
    update_tls_client_key: Option<PathBuf>,
    #[arg(long)]
    fleet_desktop_alternative_browser_host: Option<String>,
    #[arg(long, default_value = flotilla::PackagerSettings::DEFAULT_UPDATE_URL)]
    update_url: String,
    /// The update repository's trusted root.json.
    #[arg(long)]
    update_roots: PathBuf,
    /// Directory the installer is written to.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Where targets are cached (shared with `flotilla-local` serving the same directory).
    #[arg(long, default_value = ".flotilla")]
    data_dir: PathBuf,
    #[command(flatten)]
    signing: SigningArgs,
}

/// How .pkg installers are signed (the server's and `package`'s common flags).
#[derive(clap::Args)]
pub struct SigningArgs {
    /// Developer ID Installer identity to sign .pkg installers with: a PEM file holding the
    /// certificate, its chain and the PKCS#8 private key (fleetctl's --macos-devid-pem-content).
    #[arg(long, env = "FLOTILLA_MACOS_DEVID_PEM")]
    macos_devid_pem: Option<PathBuf>,
    /// RFC 3161 time-stamp server for the signature, or "none".
    #[arg(long, default_value = packager::pkg::sign::APPLE_TIMESTAMP_URL)]
    timestamp_url: String,
}

impl SigningArgs {
    /// Puts the identity in `secrets` and names it in `settings`.
    pub fn apply(
        &self,
        settings: &mut PackagerSettings,
        secrets: &mut HashMap<String, String>,
    ) -> Result<(), Error> {
        settings.set_timestamp_url(&self.timestamp_url);
        if let Some(path) = &self.macos_devid_pem {
            let pem = read_file(path, "--macos-devid-pem")?;
            // Refused here, with the reason, rather than in every build.
            SigningIdentity::from_pem(&pem).map_err(|e| format!("--macos-devid-pem: {e}"))?;
            secrets.insert(PackagerSettings::LOCAL_SIGNING_IDENTITY.to_string(), pem);
            settings.signing_secret = Some(PackagerSettings::LOCAL_SIGNING_IDENTITY.into());
        }
        Ok(())
    }
}

pub fn read_file(path: &Path, flag: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()).into())
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn read(path: &Path) -> Result<Value, Error> {
    read_file(path, "reading").map(Value::String)
}

/// The same JSON body `POST /create` takes, so the same checks apply.
fn request_body(args: &PackageArgs) -> Result<Value, Error> {
    let mut body = Map::new();
    body.insert("type".into(), json!(args.kind));
    body.insert("fleet_url".into(), json!(args.fleet_url));
    body.insert("enroll_secret".into(), json!(args.enroll_secret));
    for (name, on) in [
        ("insecure", args.insecure),
        ("disable_updates", args.disable_updates),
        ("debug", args.debug),
        ("fleet_desktop", args.fleet_desktop),
        ("service", args.service),
        ("enable_scripts", args.enable_scripts),
    ] {
        body.insert(name.into(), json!(on));
    }
    for (name, value) in [
        ("osqueryd_channel", &args.osqueryd_channel),
        ("desktop_channel", &args.desktop_channel),
        ("orbit_channel", &args.orbit_channel),
        ("update_interval", &args.update_interval),
        ("host_identifier", &args.host_identifier),
        (
            "fleet_desktop_alternative_browser_host",
            &args.fleet_desktop_alternative_browser_host,
        ),
    ] {
        if let Some(value) = value {
            body.insert(name.into(), json!(value));
        }
    }
    for (name, path) in [
        ("fleet_certificate", &args.fleet_certificate),
        ("osquery_flagfile", &args.osquery_flagfile),
        (
            "fleet_tls_client_certificate",
            &args.fleet_tls_client_certificate,
        ),
        ("fleet_tls_client_key", &args.fleet_tls_client_key),
        (
            "update_tls_client_certificate",
            &args.update_tls_client_certificate,
        ),
        ("update_tls_client_key", &args.update_tls_client_key),
    ] {
        if let Some(path) = path {
            body.insert(name.into(), read(path)?);
        }
    }
    body.insert("update_url".into(), json!(args.update_url));
    body.insert("update_roots".into(), read(&args.update_roots)?);
    Ok(Value::Object(body))
}

pub async fn run(args: PackageArgs) -> Result<(), Error> {
    let request = CreateRequest::parse(request_body(&args)?, &args.update_url)
        .map_err(|e| format!("invalid option: {e}"))?;
    // A private state store (the server may hold the data dir's), the data dir's blobs for the
    // target cache.
    let state_dir = tempfile::tempdir()?;
    let mut settings = Settings::new(Settings::LOCAL_ADMIN_TOKEN);
    let mut secrets = HashMap::new();
    args.signing.apply(&mut settings.packager, &mut secrets)?;
    let mut ports = EmbeddedPorts::open(state_dir.path(), Arc::new(SystemClock), secrets)?;
    ports.blobs = Arc::new(DirBlobs::new(args.data_dir.join("blobs")));
    let app = App::new(ports, settings);
    let scratch = tempfile::tempdir()?;
    let mut log = Vec::new();
    let built = build_file(&app, &request.args, scratch.path(), &mut log, || async {
        Ok::<(), std::convert::Infallible>(())
    })
    .await;
    let built = match built {
        Ok(built) if request.args.kind() == Some(PackageType::Pkg) => {
            sign_file(&app, built, scratch.path(), &mut log).await
        }
        other => other,
    };
    for line in &log {
        eprintln!("{line}");
    }
    let built = match built {
        Ok(built) => built,
        Err(Step::Failed(failure)) => return Err(failure.to_string().into()),
        Err(Step::Retry(err)) => return Err(err.to_string().into()),
        Err(Step::Abandoned) => return Err("the build was interrupted".into()),
    };
    std::fs::create_dir_all(&args.out)?;
    let destination = args.out.join(&built.file_name);
    // A copy, not a rename: the scratch directory may be on another filesystem.
    std::fs::copy(&built.path, &destination)?;
    println!("{}", destination.display());
    Ok(())
}
