//! The payload's archive format: cpio "newc" (SVR4 without checksums), as rpm writes it. Each
//! entry is a 110-byte header of hexadecimal fields, the NUL-terminated name, padding to 4
//! bytes, the data, padding to 4 bytes; a `TRAILER!!!` entry ends the archive.
//!
//! Written here rather than with the `cpio` crate: its entry writer flushes the underlying
//! writer after every entry, which would force a gzip sync flush per file.

use std::io::{self, Write};

const MAGIC: &[u8; 6] = b"070701";
const TRAILER: &str = "TRAILER!!!";

/// One entry's header fields (owned by root, one link, no device).
pub struct Entry<'a> {
    /// The name in the archive (`./opt/...` for rpm).
    pub name: &'a str,
    pub ino: u32,
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    pub mtime: u32,
    pub size: u32,
}

fn padding(len: u64) -> &'static [u8] {
    &[0u8; 3][..((4 - len % 4) % 4) as usize]
}

/// Writes `entry`'s header; its `size` bytes of data, then `end_data`, must follow.
pub fn write_header<W: Write>(out: &mut W, entry: &Entry) -> io::Result<()> {
    let name_len = entry.name.len() + 1;
    let fields = [
        entry.ino,
        entry.mode,
        0, // uid
        0, // gid
        1, // nlink
        entry.mtime,
        entry.size,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        u32::try_from(name_len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name too long"))?,
        0, // check
    ];
    let mut header = Vec::with_capacity(110 + name_len + 3);
    header.extend_from_slice(MAGIC);
    for field in fields {
        header.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    header.extend_from_slice(entry.name.as_bytes());
    header.push(0);
    header.extend_from_slice(padding(header.len() as u64));
    out.write_all(&header)
}

/// Pads the data of an entry of `size` bytes.
pub fn end_data<W: Write>(out: &mut W, size: u32) -> io::Result<()> {
    out.write_all(padding(u64::from(size)))
}

/// Ends the archive.
pub fn write_trailer<W: Write>(out: &mut W) -> io::Result<()> {
    write_header(
        out,
        &Entry {
            name: TRAILER,
            ino: 0,
            mode: 0,
            mtime: 0,
            size: 0,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_names_and_padding() {
        let mut out = Vec::new();
        let entry = Entry {
            name: "./a",
            ino: 1,
            mode: 0o100644,
            mtime: 0x10,
            size: 5,
        };
        write_header(&mut out, &entry).unwrap();
        // 110 + "./a\0" = 114, padded to 116.
        assert_eq!(out.len(), 116);
        assert_eq!(&out[..14], b"07070100000001");
        assert_eq!(&out[14..22], b"000081a4");
        assert_eq!(&out[54..62], b"00000005");
        assert_eq!(&out[94..102], b"00000004", "name size counts the NUL");
        assert_eq!(&out[110..116], b"./a\0\0\0");
        out.extend_from_slice(b"hello");
        end_data(&mut out, 5).unwrap();
        assert_eq!(out.len() % 4, 0);
        write_trailer(&mut out).unwrap();
        assert!(out.ends_with(b"TRAILER!!!\0\0\0\0"));
        assert_eq!(out.len() % 4, 0);
    }
}
