//! The package's files in one MSZIP cabinet, written to a scratch file: the `cab` crate
//! compresses 32 KiB blocks as they come and seeks back only to patch sizes into the headers,
//! so a file is read as it is written and never held whole.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use cab::{CabinetBuilder, CompressionType};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::plan::Plan;
use super::MsiError;

/// Writes every planned file, in `Sequence` order, named by its File key (how Windows
/// Installer finds a file in the cabinet), dated `source_date` (Unix seconds).
pub fn write(plan: &Plan<'_>, source_date: u32, path: &Path) -> Result<(), MsiError> {
    let io = |step: &'static str| move |e: io::Error| MsiError::Io(step, e);
    let date = OffsetDateTime::from_unix_timestamp(i64::from(source_date))
        .map_err(|_| MsiError::SourceDate(source_date))?;
    let date = PrimitiveDateTime::new(date.date(), date.time());
    let mut builder = CabinetBuilder::new();
    let folder = builder.add_folder(CompressionType::MsZip);
    for file in &plan.files {
        folder.add_file(file.key.as_str()).set_datetime(date);
    }
    let out = BufWriter::new(File::create(path).map_err(io("cabinet file"))?);
    let mut cabinet = builder.build(out).map_err(io("cabinet"))?;
    for file in &plan.files {
        let mut writer = cabinet
            .next_file()
            .map_err(io("cabinet"))?
            .ok_or(MsiError::CabinetOrder)?;
        let mut reader = file.contents.reader().map_err(io("target file"))?;
        let written = io::copy(&mut reader, &mut writer).map_err(io("cabinet"))?;
        // The File table's size was read before: a target changing under us is an error.
        if written != file.size {
            return Err(MsiError::SizeChanged(file.path.to_string()));
        }
    }
    cabinet
        .finish()
        .map_err(io("cabinet"))?
        .flush()
        .map_err(io("cabinet file"))
}
