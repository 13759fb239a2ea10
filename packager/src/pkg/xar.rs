//! The xar archive a flat package is: a header, the zlib-compressed XML table of contents, then
//! the heap (the TOC's SHA-1, then every file's bytes, stored as they are: the payload is
//! already gzipped, and `fleetctl package` runs `xar --compression none`).
//!
//! The TOC, which comes first, holds each file's size and SHA-1: each file is read once to
//! hash it, then again to copy it into the archive, so no file is ever held in memory.
//! `apple-xar` reads and signs xar archives but cannot create one: hence this writer.

use flate2::write::ZlibEncoder;
use flate2::Compression;
use sha1::{Digest, Sha1};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::contents::Contents;
use crate::xml::escape;

const MAGIC: u32 = 0x7861_7221; // "xar!"
const HEADER_SIZE: u16 = 28;
const VERSION: u16 = 1;
const CHECKSUM_SHA1: u32 = 1;
const SHA1_SIZE: u64 = 20;

/// One member of the archive: a file, or a directory of members.
pub enum Member {
    File { name: String, contents: Contents },
    Directory { name: String, members: Vec<Member> },
}

/// A file's place in the heap.
struct Stored<'a> {
    contents: &'a Contents,
    offset: u64,
    size: u64,
    sha1: String,
}

fn sha1_of(contents: &Contents) -> io::Result<(u64, String)> {
    let mut hasher = Sha1::new();
    let size = io::copy(&mut contents.reader()?, &mut hasher)?;
    Ok((size, hex::encode(hasher.finalize())))
}

/// Appends the TOC `<file>` elements of `members`, assigning ids and heap offsets.
fn toc_files<'a>(
    members: &'a [Member],
    time: &str,
    next_id: &mut u64,
    heap: &mut Vec<Stored<'a>>,
    xml: &mut String,
) -> io::Result<()> {
    for member in members {
        let id = *next_id;
        *next_id += 1;
        let (name, kind, mode) = match member {
            Member::File { name, .. } => (name, "file", "0644"),
            Member::Directory { name, .. } => (name, "directory", "0755"),
        };
        // The name before any nested file: libarchive names children as it reads them.
        xml.push_str(&format!(
            "<file id=\"{id}\"><name>{}</name><type>{kind}</type><mode>{mode}</mode>\
             <uid>0</uid><user>root</user><gid>0</gid><group>wheel</group>\
             <atime>{time}</atime><mtime>{time}</mtime><ctime>{time}</ctime>",
            escape(name)
        ));
        match member {
            Member::File { contents, .. } => {
                let (size, sha1) = sha1_of(contents)?;
                let offset = heap
                    .last()
                    .map_or(SHA1_SIZE, |stored| stored.offset + stored.size);
                xml.push_str(&format!(
                    "<data><length>{size}</length><offset>{offset}</offset><size>{size}</size>\
                     <encoding style=\"application/octet-stream\"/>\
                     <extracted-checksum style=\"sha1\">{sha1}</extracted-checksum>\
                     <archived-checksum style=\"sha1\">{sha1}</archived-checksum></data>"
                ));
                heap.push(Stored {
                    contents,
                    offset,
                    size,
                    sha1,
                });
            }
            Member::Directory { members, .. } => toc_files(members, time, next_id, heap, xml)?,
        }
        xml.push_str("</file>");
    }
    Ok(())
}

/// `mtime` (Unix seconds) as the TOC writes times: `2026-01-01T00:00:00Z`.
fn toc_time(mtime: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(mtime), 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Writes `members` as a xar archive at `out`; every time in it is `mtime`.
pub fn write(members: &[Member], mtime: u32, out: &Path) -> io::Result<()> {
    let time = toc_time(mtime);
    let mut heap = Vec::new();
    let mut files = String::new();
    toc_files(members, &time, &mut 1, &mut heap, &mut files)?;
    let toc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xar><toc>\
         <checksum style=\"sha1\"><offset>0</offset><size>{SHA1_SIZE}</size></checksum>\
         <creation-time>{time}</creation-time>{files}</toc></xar>\n"
    );
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(toc.as_bytes())?;
    let compressed = encoder.finish()?;

    let mut writer = BufWriter::new(File::create(out)?);
    writer.write_all(&MAGIC.to_be_bytes())?;
    writer.write_all(&HEADER_SIZE.to_be_bytes())?;
    writer.write_all(&VERSION.to_be_bytes())?;
    writer.write_all(&(compressed.len() as u64).to_be_bytes())?;
    writer.write_all(&(toc.len() as u64).to_be_bytes())?;
    writer.write_all(&CHECKSUM_SHA1.to_be_bytes())?;
    writer.write_all(&compressed)?;
    writer.write_all(&Sha1::digest(&compressed))?;
    for stored in &heap {
        // Hash again while copying: a file changed since the TOC was written would make an
        // archive whose checksums lie.
        let mut hasher = HashingWriter {
            inner: &mut writer,
            hasher: Sha1::new(),
        };
        let copied = io::copy(&mut stored.contents.reader()?, &mut hasher)?;
        if copied != stored.size || hex::encode(hasher.hasher.finalize()) != stored.sha1 {
            return Err(io::Error::other(format!(
                "xar: a member changed while the archive was written (at heap offset {})",
                stored.offset
            )));
        }
    }
    writer.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

struct HashingWriter<'a, W: Write> {
    inner: &'a mut W,
    hasher: Sha1,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
