//! One entry point for every installer type: the layout for its platform, then its writer.

use std::path::Path;

use crate::deb::{self, DebError, DebMeta};
use crate::kind::PackageType;
use crate::layout;
use crate::msi::{self, MsiError, MsiMeta};
use crate::options::{PackageOptions, Targets};
use crate::pkg::{self, PkgError, PkgMeta};
use crate::rpm::{self, RpmError, RpmMeta};

/// Every entry's modification time (2026-01-01T00:00:00Z): the same inputs give the same bytes.
pub const SOURCE_DATE: u32 = 1_767_225_600;

pub const PACKAGE_NAME: &str = "fleet-osquery";

/// The .pkg component's identifier, as `fleetctl package` names it (`pkgutil --pkgs` lists it).
pub const PKG_IDENTIFIER: &str = "com.fleetdm.orbit.base.pkg";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Deb(#[from] DebError),
    #[error(transparent)]
    Rpm(#[from] RpmError),
    #[error(transparent)]
    Msi(#[from] MsiError),
    #[error(transparent)]
    Pkg(#[from] PkgError),
    /// A target archive (an app bundle) that cannot be installed as it is.
    #[error(transparent)]
    Unpack(#[from] layout::UnpackError),
}

/// Builds a `kind` installer into `out`, using `scratch` (an existing, private directory).
pub fn build(
    kind: PackageType,
    options: &PackageOptions,
    targets: &Targets,
    scratch: &Path,
    out: &Path,
) -> Result<(), BuildError> {
    match kind {
        PackageType::Deb => {
            let meta = DebMeta {
                name: PACKAGE_NAME.into(),
                version: targets.version.clone(),
                architecture: "amd64".into(),
                maintainer: "Flotilla <flotilla@localhost>".into(),
                description: "Fleet osquery -- runtime and autoupdater (orbit)".into(),
                mtime: u64::from(SOURCE_DATE),
            };
            deb::build(
                &layout::linux(options, targets, "linux"),
                &meta,
                scratch,
                out,
            )?;
        }
        PackageType::Rpm => {
            let meta = RpmMeta {
                name: PACKAGE_NAME.into(),
                version: targets.version.clone(),
                architecture: "x86_64".into(),
                summary: "Fleet osquery -- runtime and autoupdater (orbit)".into(),
                license: "https://fleetdm.com/legal/terms".into(),
                source_date: SOURCE_DATE,
            };
            rpm::build(
                &layout::linux(options, targets, "linux"),
                &meta,
                scratch,
                out,
            )?;
        }
        PackageType::Msi => {
            let meta = MsiMeta {
                version: targets.version.clone(),
                source_date: SOURCE_DATE,
            };
            msi::build(
                &layout::windows(options, targets),
                options,
                &meta,
                scratch,
                out,
            )?;
        }
        PackageType::Pkg => {
            let meta = PkgMeta {
                identifier: PKG_IDENTIFIER.into(),
                version: targets.version.clone(),
                title: "Fleet osquery".into(),
                mtime: SOURCE_DATE,
            };
            let layout = layout::macos(options, targets, scratch)?;
            pkg::build(&layout, &meta, scratch, out)?;
        }
    }
    Ok(())
}
