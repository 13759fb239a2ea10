//! A Windows Installer package, written in Rust on any platform: the database with the `msi`
//! crate, the files in one MSZIP cabinet (the `cab` crate) embedded in it as a stream, so the
//! .msi is a single file, as `fleetctl package --type=msi` builds it with WiX.
//!
//! Memory stays bounded by the crates' buffers, not the package: the cabinet is compressed
//! block by block into a scratch file, then copied into the database's stream, which the
//! compound-file writer lays out sector by sector.
//!
//! Reproducible: every date is `source_date`, and the ProductCode and PackageCode are
//! derived from the inputs (the cabinet's bytes, the version, the URL and the service's
//! arguments), not random.

mod cabinet;
mod names;
mod plan;
mod sequence;
mod service;
mod tables;

pub use service::{arguments as service_arguments, SERVICE_NAME};
pub use tables::{MANUFACTURER, PRODUCT_NAME, UPGRADE_CODE};

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use ::msi::{CodePage, LanguageId, Package, PackageType};
use md5::{Digest, Md5};

use crate::layout::Entry;
use crate::options::PackageOptions;
use names::{derived_uuid, guid};
use plan::Plan;

/// The cabinet's stream in the database (the Media table's `#orbit.cab`).
pub const CABINET_STREAM: &str = "orbit.cab";
/// Windows Installer 5.0, as fleetctl's `InstallerVersion="500"`: the ACL table
/// (MsiLockPermissionsEx) and the service failure actions need it. (x64 needs 200 or more.)
pub const INSTALLER_VERSION: i32 = 500;
/// Summary word count: long file names (0) + files compressed in a cabinet (2).
pub const WORD_COUNT: i32 = 2;
/// English (United States).
pub const LANGUAGE: u16 = 1033;

#[derive(Debug, thiserror::Error)]
pub enum MsiError {
    #[error("{0}: {1}")]
    Io(&'static str, io::Error),
    #[error("table {0}: {1}")]
    Table(&'static str, io::Error),
    #[error("{0:?} is not a Windows Installer version (major.minor.build, at most 255.255.65535)")]
    Version(String),
    #[error("{0} is a symlink, which an MSI cannot install")]
    Symlink(String),
    #[error("{0} is not relative to the install root with / separators")]
    NotRelative(String),
    #[error("{0} is larger than an MSI file can be (2 GiB)")]
    TooBig(String),
    #[error("{0} changed size while the package was built")]
    SizeChanged(String),
    #[error("the layout has no orbit executable for the service")]
    NoServiceExecutable,
    #[error("the layout has no file in the install root to hang its ACL on")]
    NoRootFile,
    #[error("too many files")]
    TooManyFiles,
    #[error("the cabinet writer ended before the last file")]
    CabinetOrder,
    #[error("{0} is not a date a cabinet can hold")]
    SourceDate(u32),
}

fn io(step: &'static str) -> impl Fn(io::Error) -> MsiError {
    move |e| MsiError::Io(step, e)
}

/// The package's identity.
pub struct MsiMeta {
    /// orbit's version: the ProductVersion.
    pub version: String,
    /// Every date in the package (Unix seconds), so that a build is reproducible.
    pub source_date: u32,
}

/// Windows Installer compares `major.minor.build`, at most 255.255.65535.
fn product_version(version: &str) -> Result<String, MsiError> {
    let invalid = || MsiError::Version(version.to_string());
    let parts: Vec<&str> = version.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(invalid());
    }
    for (index, part) in parts.iter().enumerate() {
        let limit = if index < 2 { 255 } else { 65535 };
        let number: u32 = part.parse().map_err(|_| invalid())?;
        if number > limit || !part.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
    }
    Ok(version.to_string())
}

/// Reads through, hashing what it reads.
struct Hashing<R> {
    inner: R,
    hasher: Md5,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Builds the package into `out` from `entries` (paths relative to the install root, as
/// `layout::windows` gives them), using `scratch` (an existing directory) for the cabinet.
pub fn build(
    entries: &[Entry],
    options: &PackageOptions,
    meta: &MsiMeta,
    scratch: &Path,
    out: &Path,
) -> Result<(), MsiError> {
    let version = product_version(&meta.version)?;
    let plan = Plan::new(entries)?;
    let cabinet_path = scratch.join(CABINET_STREAM);
    cabinet::write(&plan, meta.source_date, &cabinet_path)?;

    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .map_err(io("package file"))?;
    let mut package = Package::create(PackageType::Installer, file).map_err(io("package"))?;
    // Windows Installer does not take UTF-8 databases; fleetctl's are 1252 too.
    package.set_database_codepage(CodePage::Windows1252);

    let mut cabinet = Hashing {
        inner: File::open(&cabinet_path).map_err(io("cabinet file"))?,
        hasher: Md5::new(),
    };
    {
        let mut stream = package
            .write_stream(CABINET_STREAM)
            .map_err(io("cabinet stream"))?;
        io::copy(&mut cabinet, &mut stream).map_err(io("cabinet stream"))?;
    }
    let cabinet_digest = cabinet.hasher.finalize();
    std::fs::remove_file(&cabinet_path).map_err(io("cabinet file"))?;

    let arguments = service::arguments(options);
    // Everything that differs between two packages is in the cabinet (every file, the
    // secret included), the version, the URL or the arguments: the same inputs give the
    // same codes, different inputs different ones (so a new package replaces the old one).
    let identity = |kind: &[u8]| {
        derived_uuid(&[
            kind,
            version.as_bytes(),
            options.fleet_url.as_bytes(),
            arguments.as_bytes(),
            &cabinet_digest,
        ])
    };
    let product_code = identity(b"ProductCode");
    let package_code = identity(b"PackageCode");
    let codes = tables::Codes {
        product_code: guid(product_code),
        product_version: version,
        fleet_url: options.fleet_url.clone(),
        cabinet_stream: CABINET_STREAM.to_string(),
        arguments,
    };
    tables::write(&mut package, &plan, &codes)?;

    let date = UNIX_EPOCH + Duration::from_secs(u64::from(meta.source_date));
    let summary = package.summary_info_mut();
    summary.set_codepage(CodePage::Windows1252);
    summary.set_title("Installation Database");
    summary.set_subject(PRODUCT_NAME);
    summary.set_author(MANUFACTURER);
    summary.set_keywords(&["Installer".to_string(), PRODUCT_NAME.to_string()]);
    summary.set_comments(format!(
        "This installer database contains the logic and data required to install {PRODUCT_NAME}."
    ));
    summary.set_creating_application("Flotilla packager");
    summary.set_arch("x64");
    summary.set_languages(&[LanguageId::from_id(LANGUAGE)]);
    summary.set_uuid(package_code);
    summary.set_page_count(INSTALLER_VERSION);
    summary.set_word_count(WORD_COUNT);
    summary.set_creation_time(date);
    summary.set_last_save_time(date);
    // The security field: read-only recommended, as WiX sets it.
    summary.set_doc_security(2);
    package.flush().map_err(io("package"))?;
    package
        .into_inner()
        .and_then(|file| file.sync_all())
        .map_err(io("package file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_windows_installer() {
        assert_eq!(product_version("1.38.0").expect("ok"), "1.38.0");
        assert!(product_version("1.38").is_ok());
        for bad in [
            "1.38.0-rc1",
            "256.0.0",
            "1.2.65536",
            "1.2.3.4",
            "",
            "+1.2.3",
        ] {
            assert!(product_version(bad).is_err(), "{bad}");
        }
    }
}
