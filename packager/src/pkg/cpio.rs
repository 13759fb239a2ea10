//! The "odc" (POSIX.1 portable) cpio format pkgbuild writes for `Payload` and `Scripts`,
//! streamed: each file is copied from its reader as it is written. Every entry is root-owned
//! with a fixed mtime and its own inode number, so the same tree gives the same bytes.

use std::io::{self, Read, Write};

/// The largest values the fixed-width octal fields hold.
const MAX_6: u64 = 0o777_777;
const MAX_11: u64 = 0o77_777_777_777;

pub struct CpioWriter<W: Write> {
    out: W,
    mtime: u64,
    next_inode: u64,
}

fn too_large(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cpio: {what} too large"),
    )
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W, mtime: u64) -> Self {
        CpioWriter {
            out,
            mtime,
            next_inode: 1,
        }
    }

    fn header(&mut self, name: &str, mode: u32, nlink: u64, size: u64) -> io::Result<()> {
        let inode = self.next_inode;
        self.next_inode += 1;
        let name_size = name.len() as u64 + 1;
        if inode > MAX_6 {
            return Err(too_large("entry count"));
        }
        if name_size > MAX_6 {
            return Err(too_large("path"));
        }
        if size > MAX_11 {
            return Err(too_large("file"));
        }
        let mtime = self.mtime.min(MAX_11);
        // magic dev ino mode uid gid nlink rdev mtime namesize filesize
        write!(
            self.out,
            "070707{:06o}{inode:06o}{mode:06o}{:06o}{:06o}{nlink:06o}{:06o}{mtime:011o}{name_size:06o}{size:011o}",
            0, 0, 0, 0
        )?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])
    }

    /// A directory; `name` is relative (`.`, `./opt`).
    pub fn directory(&mut self, name: &str, permissions: u32) -> io::Result<()> {
        self.header(name, 0o040_000 | permissions, 2, 0)
    }

    /// A regular file of `size` bytes read from `data`.
    pub fn file(
        &mut self,
        name: &str,
        permissions: u32,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        self.header(name, 0o100_000 | permissions, 1, size)?;
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("cpio: {name} shrank while being written"),
            ));
        }
        Ok(())
    }

    /// A symbolic link: its data is the target.
    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.header(name, 0o120_755, 1, target.len() as u64)?;
        self.out.write_all(target.as_bytes())
    }

    /// Writes the trailer and answers the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.header("TRAILER!!!", 0, 1, 0)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_fixed_width_octal() {
        let mut cpio = CpioWriter::new(Vec::new(), 0o17);
        cpio.file("./a", 0o644, 3, &mut &b"abc"[..]).expect("file");
        let out = cpio.finish().expect("finish");
        let header = std::str::from_utf8(&out[..76]).expect("ascii");
        // magic, dev, ino, mode, uid, gid, nlink, rdev, mtime, namesize, filesize
        let fields = [
            "070707",
            "000000",
            "000001",
            "100644",
            "000000",
            "000000",
            "000001",
            "000000",
            "00000000017",
            "000004",
            "00000000003",
        ];
        assert_eq!(header, fields.concat());
        assert_eq!(&out[76..80], b"./a\0");
        assert_eq!(&out[80..83], b"abc");
        assert!(out.ends_with(b"TRAILER!!!\0"));
    }

    #[test]
    fn a_short_reader_is_an_error() {
        let mut cpio = CpioWriter::new(Vec::new(), 0);
        assert!(cpio.file("./a", 0o644, 5, &mut &b"abc"[..]).is_err());
    }
}
