//! The payload: the layout's files as a gzip-compressed cpio archive, written to a scratch file
//! in one pass over the contents, which also gathers what the main header needs: each file's
//! size, mode and SHA-256, and the SHA-256 and size of the archive before and after
//! compression.
//!
//! Two threads share the work: this one reads the files, hashes them and frames the archive;
//! a second one compresses, hashes the compressed stream and writes it. At most a few chunks of
//! 1 MiB are in flight between them, so memory stays bounded.

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::cpio;
use super::RpmError;
use crate::layout::{Entry, Layout, Node};

const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// One file of the package, as the header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Absolute path.
    pub path: String,
    pub size: u32,
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    /// Hex SHA-256 of a regular file's contents; empty for a symlink.
    pub digest: String,
    /// A symlink's target; empty for a regular file.
    pub link_to: String,
}

pub struct Payload {
    /// In archive order (sorted by path), inode `i + 1`.
    pub files: Vec<FileRecord>,
    /// The compressed payload, as stored in the package.
    pub len: u64,
    pub digest: [u8; 32],
    /// The uncompressed cpio archive.
    pub archive_len: u64,
    pub archive_digest: [u8; 32],
}

/// Passes writes on, hashing and counting what `inner` accepted.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.len)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn io_err(step: &'static str) -> impl Fn(io::Error) -> RpmError {
    move |e| RpmError::Io(step, e)
}

/// Writes the payload of `layout` to `path`, every entry dated `mtime`, gzip at `level`.
pub fn write(layout: &Layout, mtime: u32, level: u32, path: &Path) -> Result<Payload, RpmError> {
    let mut entries: Vec<_> = layout.entries.iter().collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut seen = BTreeSet::new();
    for entry in &entries {
        if !entry.path.starts_with('/') || entry.path.ends_with('/') {
            return Err(RpmError::BadPath(entry.path.clone()));
        }
        if !seen.insert(entry.path.as_str()) {
            return Err(RpmError::DuplicatePath(entry.path.clone()));
        }
    }

    let file = File::create(path).map_err(io_err("scratch file"))?;
    let (chunks, received) = sync_channel(CHUNKS_IN_FLIGHT);
    std::thread::scope(|scope| {
        let compressor = scope.spawn(move || compress(received, file, level));
        let archived = write_archive(&entries, mtime, Chunks::new(chunks));
        let compressed = compressor
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A compressor failure stops the archive too: report the compressor's error.
        let (digest, len) = compressed.map_err(io_err("payload"))?;
        let (files, archive_digest, archive_len) = archived?;
        Ok(Payload {
            files,
            len,
            digest,
            archive_len,
            archive_digest,
        })
    })
}

const CHUNK: usize = 1 << 20;
const CHUNKS_IN_FLIGHT: usize = 4;

/// Sends what is written to the compressor in chunks; dropping it ends the stream.
struct Chunks {
    sender: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
}

impl Chunks {
    fn new(sender: SyncSender<Vec<u8>>) -> Self {
        Chunks {
            sender,
            chunk: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.sender
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the compressor stopped"))
    }

    /// Sends the last, partial chunk.
    fn finish(mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The second thread: gzips the chunks into `file`; answers the SHA-256 and length of what it
/// wrote.
fn compress(chunks: Receiver<Vec<u8>>, file: File, level: u32) -> io::Result<([u8; 32], u64)> {
    let compressed = Hashing::new(BufWriter::with_capacity(1 << 16, file));
    let mut gzip = GzEncoder::new(compressed, Compression::new(level));
    for chunk in chunks {
        gzip.write_all(&chunk)?;
    }
    let (mut file, digest, len) = gzip.finish()?.finish();
    file.flush()?;
    Ok((digest, len))
}

type Archived = (Vec<FileRecord>, [u8; 32], u64);

/// Writes the cpio archive of `entries` (sorted, checked) to `out`.
fn write_archive(entries: &[&Entry], mtime: u32, out: Chunks) -> Result<Archived, RpmError> {
    let mut archive = Hashing::new(out);
    let mut files = Vec::with_capacity(entries.len());
    let mut buffer = vec![0u8; 1 << 16];
    for (index, entry) in entries.iter().enumerate() {
        let name = format!(".{}", entry.path);
        let too_large = || RpmError::TooLarge(entry.path.clone());
        let mut header = cpio::Entry {
            name: &name,
            ino: u32::try_from(index + 1).map_err(|_| too_large())?,
            mode: 0,
            mtime,
            size: 0,
        };
        let record = match &entry.node {
            Node::File { contents, mode } => {
                let len = contents.len().map_err(io_err("target file"))?;
                header.size = u32::try_from(len).map_err(|_| too_large())?;
                header.mode = S_IFREG | (mode & 0o7777);
                cpio::write_header(&mut archive, &header).map_err(io_err("payload"))?;
                let mut reader = contents.reader().map_err(io_err("target file"))?;
                let mut hasher = Sha256::new();
                let mut copied = 0u64;
                loop {
                    let n = match reader.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(RpmError::Io("target file", e)),
                    };
                    copied += n as u64;
                    if copied > len {
                        break;
                    }
                    hasher.update(&buffer[..n]);
                    archive.write_all(&buffer[..n]).map_err(io_err("payload"))?;
                }
                if copied != len {
                    return Err(RpmError::Changed(entry.path.clone()));
                }
                FileRecord {
                    path: entry.path.clone(),
                    size: header.size,
                    mode: header.mode,
                    digest: hex::encode(hasher.finalize()),
                    link_to: String::new(),
                }
            }
            Node::Symlink { target } => {
                // A symlink's data is its target.
                header.size = u32::try_from(target.len()).map_err(|_| too_large())?;
                header.mode = S_IFLNK | 0o777;
                cpio::write_header(&mut archive, &header).map_err(io_err("payload"))?;
                archive
                    .write_all(target.as_bytes())
                    .map_err(io_err("payload"))?;
                FileRecord {
                    path: entry.path.clone(),
                    size: header.size,
                    mode: header.mode,
                    digest: String::new(),
                    link_to: target.clone(),
                }
            }
        };
        cpio::end_data(&mut archive, record.size).map_err(io_err("payload"))?;
        files.push(record);
    }
    cpio::write_trailer(&mut archive).map_err(io_err("payload"))?;

    let (chunks, archive_digest, archive_len) = archive.finish();
    chunks.finish().map_err(io_err("payload"))?;
    Ok((files, archive_digest, archive_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Entry, Scripts};

    fn layout(entries: Vec<Entry>) -> Layout {
        let script = String::from("#!/bin/sh\n");
        Layout {
            entries,
            scripts: Scripts {
                post_install: script.clone(),
                pre_remove: script.clone(),
                post_remove: script,
            },
        }
    }

    fn file(path: &str, contents: &[u8]) -> Entry {
        Entry {
            path: path.into(),
            node: Node::File {
                contents: contents.to_vec().into(),
                mode: 0o640,
            },
        }
    }

    #[test]
    fn digests_and_sizes_describe_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        // Bigger than a chunk, so that several cross to the compressor.
        let big: Vec<u8> = (0..3 * CHUNK as u32 + 5).map(|i| (i % 251) as u8).collect();
        let entries = vec![
            file("/b/big", &big),
            Entry {
                path: "/a/link".into(),
                node: Node::Symlink {
                    target: "../b/big".into(),
                },
            },
        ];
        let payload = write(&layout(entries), 7, 6, &path).unwrap();

        let compressed = std::fs::read(&path).unwrap();
        assert_eq!(payload.len, compressed.len() as u64);
        assert_eq!(
            payload.digest,
            <[u8; 32]>::from(Sha256::digest(&compressed))
        );
        let mut archive = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut archive)
            .unwrap();
        assert_eq!(payload.archive_len, archive.len() as u64);
        assert_eq!(
            payload.archive_digest,
            <[u8; 32]>::from(Sha256::digest(&archive))
        );

        // Sorted by path; the symlink's data is its target.
        let paths: Vec<_> = payload.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/a/link", "/b/big"]);
        let (link, big_file) = (&payload.files[0], &payload.files[1]);
        assert_eq!((link.mode, link.size), (0o120777, 8));
        assert_eq!(link.link_to, "../b/big");
        assert_eq!(big_file.mode, 0o100640);
        assert_eq!(big_file.size as usize, big.len());
        assert_eq!(big_file.digest, hex::encode(Sha256::digest(&big)));
        let at = archive
            .windows(big.len())
            .position(|w| w == &big[..])
            .expect("contents in the archive");
        assert_eq!(at % 4, 0, "data starts on a 4-byte boundary");
    }

    #[test]
    fn duplicate_and_relative_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        let twice = layout(vec![file("/a", b"1"), file("/a", b"2")]);
        assert!(matches!(
            write(&twice, 0, 6, &path),
            Err(RpmError::DuplicatePath(p)) if p == "/a"
        ));
        let relative = layout(vec![file("etc/a", b"1")]);
        assert!(matches!(
            write(&relative, 0, 6, &path),
            Err(RpmError::BadPath(_))
        ));
    }

    #[test]
    fn a_missing_target_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![Entry {
            path: "/opt/osqueryd".into(),
            node: Node::File {
                contents: crate::contents::Contents::File(dir.path().join("missing")),
                mode: 0o755,
            },
        }];
        let result = write(&layout(entries), 0, 6, &dir.path().join("payload"));
        assert!(matches!(result, Err(RpmError::Io("target file", _))));
    }
}
