//! The package file: lead, signature header, main header, then the payload copied from its
//! scratch file. The signature's MD5 covers the main header and the payload: it is computed
//! during the copy and written into its place in the signature header afterwards.

use md5::{Digest, Md5};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::lead::LEAD_LEN;
use super::payload::Payload;
use super::signature::signature;
use super::RpmError;

fn io_err(step: &'static str) -> impl Fn(io::Error) -> RpmError {
    move |e| RpmError::Io(step, e)
}

/// Writes the package to `out`: `lead`, the signature for `header`, `header`, and the payload
/// (described by `payload`, stored at `payload_path`).
pub fn write(
    lead: &[u8; LEAD_LEN],
    header: &[u8],
    payload: &Payload,
    payload_path: &Path,
    out: &Path,
) -> Result<(), RpmError> {
    let sig = signature(header, payload.len, payload.archive_len).map_err(io_err("signature"))?;
    let mut output = File::create(out).map_err(io_err("package file"))?;
    let mut md5 = Md5::new();
    md5.update(header);
    let mut start = Vec::with_capacity(LEAD_LEN + sig.bytes.len() + header.len());
    start.extend_from_slice(lead);
    start.extend_from_slice(&sig.bytes);
    start.extend_from_slice(header);
    output.write_all(&start).map_err(io_err("package file"))?;

    let mut input = File::open(payload_path).map_err(io_err("scratch file"))?;
    let mut buffer = vec![0u8; 1 << 18];
    let mut copied = 0u64;
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(RpmError::Io("scratch file", e)),
        };
        md5.update(&buffer[..n]);
        output
            .write_all(&buffer[..n])
            .map_err(io_err("package file"))?;
        copied += n as u64;
    }
    if copied != payload.len {
        return Err(RpmError::Io(
            "scratch file",
            io::Error::new(io::ErrorKind::UnexpectedEof, "payload changed on disk"),
        ));
    }
    output
        .seek(SeekFrom::Start((LEAD_LEN + sig.md5_at) as u64))
        .and_then(|_| output.write_all(&md5.finalize()))
        .map_err(io_err("package file"))
}
