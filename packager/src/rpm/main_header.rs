//! The main header: what the package is (name, version, ...), its files (paths split into
//! directory and base names, sizes, modes, digests, owners), the scriptlets, what it provides
//! and requires, and the payload's format and digests. The tags are those `rpmbuild` writes
//! for the same package, less the build host and the file classification.

use std::collections::BTreeMap;

use super::header::{Header, Value};
use super::payload::Payload;
use super::tags::*;
use super::{RpmMeta, GZIP_LEVEL, RELEASE as PACKAGE_RELEASE};
use crate::layout::Scripts;

/// rpm's name for the instruction set in arch-specific provides (`%{_isa}`).
fn isa(arch: &str) -> Option<&'static str> {
    match arch {
        "x86_64" => Some("x86-64"),
        "aarch64" => Some("aarch-64"),
        _ => None,
    }
}

/// The rpmlib features a package with this payload needs, with the rpm version that added them.
const RPMLIB_FEATURES: [(&str, &str); 3] = [
    ("rpmlib(CompressedFileNames)", "3.0.4-1"),
    ("rpmlib(FileDigests)", "4.6.0-1"),
    ("rpmlib(PayloadFilesHavePrefix)", "4.0-1"),
];

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::StringArray(items.into_iter().map(str::to_string).collect())
}

fn set_files(header: &mut Header, payload: &Payload, mtime: u32) {
    let files = &payload.files;
    let count = files.len();
    // Paths as an index into the sorted directory names, and base names.
    let mut dirs: BTreeMap<&str, u32> = files
        .iter()
        .map(|f| (&f.path[..=f.path.rfind('/').unwrap_or(0)], 0))
        .collect();
    for (index, slot) in dirs.values_mut().enumerate() {
        *slot = index as u32;
    }
    let mut dir_indexes = Vec::with_capacity(count);
    let mut base_names = Vec::with_capacity(count);
    for file in files {
        let split = file.path.rfind('/').unwrap_or(0) + 1;
        dir_indexes.push(dirs[&file.path[..split]]);
        base_names.push(file.path[split..].to_string());
    }
    header
        .set(DIRNAMES, strings(dirs.keys().copied()))
        .set(DIRINDEXES, Value::Int32(dir_indexes))
        .set(BASENAMES, Value::StringArray(base_names))
        .set(
            FILESIZES,
            Value::Int32(files.iter().map(|f| f.size).collect()),
        )
        // Type and permission bits fit 16 bits.
        .set(
            FILEMODES,
            Value::Int16(files.iter().map(|f| f.mode as u16).collect()),
        )
        .set(FILERDEVS, Value::Int16(vec![0; count]))
        .set(FILEMTIMES, Value::Int32(vec![mtime; count]))
        .set(
            FILEDIGESTS,
            strings(files.iter().map(|f| f.digest.as_str())),
        )
        .set(FILEDIGESTALGO, Value::Int32(vec![DIGEST_SHA256]))
        .set(
            FILELINKTOS,
            strings(files.iter().map(|f| f.link_to.as_str())),
        )
        .set(FILEFLAGS, Value::Int32(vec![0; count]))
        .set(FILEUSERNAME, strings(files.iter().map(|_| "root")))
        .set(FILEGROUPNAME, strings(files.iter().map(|_| "root")))
        .set(FILEVERIFYFLAGS, Value::Int32(vec![u32::MAX; count]))
        .set(FILEDEVICES, Value::Int32(vec![1; count]))
        .set(FILEINODES, Value::Int32((1..=count as u32).collect()))
        .set(FILELANGS, strings(files.iter().map(|_| "")));
}

fn set_scripts_and_dependencies(header: &mut Header, scripts: &Scripts, evr: &str, meta: &RpmMeta) {
    let scriptlets = [
        (POSTIN, POSTINPROG, &scripts.post_install, SENSE_SCRIPT_POST),
        (PREUN, PREUNPROG, &scripts.pre_remove, SENSE_SCRIPT_PREUN),
        (
            POSTUN,
            POSTUNPROG,
            &scripts.post_remove,
            SENSE_SCRIPT_POSTUN,
        ),
    ];
    let mut require_names = Vec::new();
    let mut require_flags = Vec::new();
    let mut require_versions = Vec::new();
    for (tag, prog_tag, script, sense) in scriptlets {
        header
            .set(tag, Value::String(script.clone()))
            .set(prog_tag, Value::String("/bin/sh".into()));
        require_names.push("/bin/sh".to_string());
        require_flags.push(SENSE_INTERP | sense);
        require_versions.push(String::new());
    }
    for (feature, version) in RPMLIB_FEATURES {
        require_names.push(feature.into());
        require_flags.push(SENSE_RPMLIB | SENSE_LESS | SENSE_EQUAL);
        require_versions.push(version.into());
    }
    header
        .set(REQUIRENAME, Value::StringArray(require_names))
        .set(REQUIREFLAGS, Value::Int32(require_flags))
        .set(REQUIREVERSION, Value::StringArray(require_versions));

    let mut provides = vec![meta.name.clone()];
    if let Some(isa) = isa(&meta.architecture) {
        provides.push(format!("{}({isa})", meta.name));
    }
    header
        .set(
            PROVIDEFLAGS,
            Value::Int32(vec![SENSE_EQUAL; provides.len()]),
        )
        .set(PROVIDEVERSION, strings(provides.iter().map(|_| evr)))
        .set(PROVIDENAME, Value::StringArray(provides));
}

/// The main header of a package of `payload`'s files.
pub fn header(meta: &RpmMeta, scripts: &Scripts, payload: &Payload) -> Header {
    let evr = format!("{}-{PACKAGE_RELEASE}", meta.version);
    let installed: u64 = payload.files.iter().map(|f| u64::from(f.size)).sum();
    let mut header = Header::new();
    header
        .set(HEADER_I18NTABLE, strings(["C"]))
        .set(NAME, Value::String(meta.name.clone()))
        .set(VERSION, Value::String(meta.version.clone()))
        .set(RELEASE, Value::String(PACKAGE_RELEASE.into()))
        .set(SUMMARY, Value::I18nString(meta.summary.clone()))
        .set(DESCRIPTION, Value::I18nString(meta.summary.clone()))
        .set(BUILDTIME, Value::Int32(vec![meta.source_date]))
        .set(LICENSE, Value::String(meta.license.clone()))
        .set(GROUP, Value::I18nString("Unspecified".into()))
        .set(OS, Value::String("linux".into()))
        .set(ARCH, Value::String(meta.architecture.clone()))
        // A binary package names its source package; without it rpm takes it for a source one.
        .set(
            SOURCERPM,
            Value::String(format!("{}-{evr}.src.rpm", meta.name)),
        )
        .set(
            RPMVERSION,
            Value::String(concat!("flotilla-packager ", env!("CARGO_PKG_VERSION")).into()),
        )
        .set(ENCODING, Value::String("utf-8".into()))
        .set(PAYLOADFORMAT, Value::String("cpio".into()))
        .set(PAYLOADCOMPRESSOR, Value::String("gzip".into()))
        .set(PAYLOADFLAGS, Value::String(GZIP_LEVEL.to_string()))
        .set(
            PAYLOADDIGEST,
            Value::StringArray(vec![hex::encode(payload.digest)]),
        )
        .set(PAYLOADDIGESTALGO, Value::Int32(vec![DIGEST_SHA256]))
        .set(
            PAYLOADDIGESTALT,
            Value::StringArray(vec![hex::encode(payload.archive_digest)]),
        );
    // SIZE is the installed size; past 4 GiB rpm reads LONGSIZE instead.
    match u32::try_from(installed) {
        Ok(size) => header.set(SIZE, Value::Int32(vec![size])),
        Err(_) => header.set(LONGSIZE, Value::Int64(vec![installed])),
    };
    set_files(&mut header, payload, meta.source_date);
    set_scripts_and_dependencies(&mut header, scripts, &evr, meta);
    header
}
