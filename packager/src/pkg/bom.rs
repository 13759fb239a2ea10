//! The bill of materials (`Bom`) Installer reads to know what a component package installs:
//! a "BOMStore" of numbered blocks, laid out as bomutils' `mkbom` writes it (what
//! `fleetctl package` runs on Linux). `apple-bom` 0.3 reads BOMs but its builder cannot write
//! one (it panics on the root entry, and names every entry by its full path where readers
//! expect the last component under its parent), hence this writer; the tests read its output
//! back with `apple-bom`.
//!
//! The BOM holds one record per path (mode, owner, size, checksum), not contents: each file
//! is read through once for its checksum, from scratch for the big ones.

use std::io::{self, Read};

use super::PayloadEntry;
use crate::layout::Node;

const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Path entries per leaf block: a leaf is at most 4096 bytes (12 bytes of header, 8 per entry).
const PATHS_PER_LEAF: usize = 256;

/// Where the variables and the blocks start in the file (the header is 32 bytes).
const VARS_OFFSET: usize = 128;
const BLOCKS_OFFSET: usize = 512;

/// The POSIX `cksum` CRC (what `lsbom -c` shows) of everything `reader` yields.
fn cksum(reader: &mut dyn Read) -> io::Result<(u32, u64)> {
    const POLY: u32 = 0x04C1_1DB7;
    let mut table = [0u32; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut crc = (i as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
        }
        *slot = crc;
    }
    let step = |crc: u32, byte: u8| (crc << 8) ^ table[((crc >> 24) ^ u32::from(byte)) as usize];
    let mut crc = 0u32;
    let mut length = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        length += read as u64;
        crc = buffer[..read]
            .iter()
            .fold(crc, |crc, &byte| step(crc, byte));
    }
    let mut rest = length;
    while rest != 0 {
        crc = step(crc, (rest & 0xff) as u8);
        rest >>= 8;
    }
    Ok((!crc, length))
}

/// One path's record: type, mode, size, checksum, link target.
struct Record {
    kind: u8,
    mode: u32,
    size: u64,
    checksum: u32,
    link: Option<String>,
}

fn record(node: Option<&Node>) -> io::Result<Record> {
    Ok(match node {
        None => Record {
            kind: 2,
            mode: S_IFDIR | 0o755,
            size: 0,
            checksum: 0,
            link: None,
        },
        Some(Node::File { contents, mode }) => {
            let (checksum, size) = cksum(&mut contents.reader()?)?;
            Record {
                kind: 1,
                mode: S_IFREG | (mode & 0o7777),
                size,
                checksum,
                link: None,
            }
        }
        Some(Node::Symlink { target }) => {
            let (checksum, size) = cksum(&mut target.as_bytes())?;
            Record {
                kind: 3,
                mode: S_IFLNK | 0o755,
                size,
                checksum,
                link: Some(target.clone()),
            }
        }
    })
}

fn too_large(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("bom: {what} too large"),
    )
}

fn u32_of(value: usize, what: &str) -> io::Result<u32> {
    u32::try_from(value).map_err(|_| too_large(what))
}

/// The numbered blocks; block 0 is the null block.
struct Blocks(Vec<Vec<u8>>);

impl Blocks {
    fn push(&mut self, block: Vec<u8>) -> u32 {
        self.0.push(block);
        (self.0.len() - 1) as u32
    }

    /// A tree block ("tree", version 1) whose paths start at `child`.
    fn tree(&mut self, child: u32, block_size: u32, path_count: u32) -> u32 {
        let mut block = b"tree".to_vec();
        for value in [1, child, block_size, path_count] {
            block.extend(value.to_be_bytes());
        }
        block.push(0);
        self.push(block)
    }

    /// A paths block: leaf or not, its neighbours, and (index, file) pairs.
    fn paths(leaf: bool, forward: u32, backward: u32, entries: &[(u32, u32)]) -> Vec<u8> {
        let mut block = Vec::with_capacity(12 + 8 * entries.len());
        block.extend(u16::from(leaf).to_be_bytes());
        block.extend((entries.len() as u16).to_be_bytes());
        block.extend(forward.to_be_bytes());
        block.extend(backward.to_be_bytes());
        for (index, file) in entries {
            block.extend(index.to_be_bytes());
            block.extend(file.to_be_bytes());
        }
        block
    }

    fn empty_tree(&mut self, block_size: u32) -> u32 {
        let leaf = self.push(Self::paths(true, 0, 0, &[]));
        self.tree(leaf, block_size, 0)
    }
}

/// The BOM of `directories` and `entries` (paths relative to `/`, directories without their
/// entries), every path owned by root:wheel, modified at `mtime`.
pub fn build(
    entries: &[PayloadEntry],
    directories: &std::collections::BTreeSet<String>,
    mtime: u32,
) -> io::Result<Vec<u8>> {
    let mut paths: std::collections::BTreeMap<&str, Option<&Node>> =
        directories.iter().map(|dir| (dir.as_str(), None)).collect();
    paths.extend(entries.iter().map(|e| (e.path.as_str(), Some(&e.node))));

    let mut blocks = Blocks(vec![Vec::new()]);
    // Path ids in path order, so that a parent's id is known before its children's; "." is 1.
    let mut ids: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut pairs = Vec::with_capacity(paths.len() + 1);
    let all = std::iter::once((".", None)).chain(paths.iter().map(|(p, n)| (*p, *n)));
    for (id, (path, node)) in (1u32..).zip(all) {
        let (parent, name) = match path.rsplit_once('/') {
            _ if path == "." => (0, "."),
            Some((parent, name)) => (ids.get(parent).copied().unwrap_or(1), name),
            None => (1, path),
        };
        ids.insert(path, id);
        let record = record(node)?;
        let mut info = vec![record.kind, 1];
        info.extend(3u16.to_be_bytes()); // architecture, as mkbom writes it
        info.extend(((record.mode & 0xffff) as u16).to_be_bytes());
        info.extend(0u32.to_be_bytes()); // root
        info.extend(0u32.to_be_bytes()); // wheel
        info.extend(mtime.to_be_bytes());
        info.extend(
            u32::try_from(record.size)
                .map_err(|_| too_large(path))?
                .to_be_bytes(),
        );
        info.push(1);
        info.extend(record.checksum.to_be_bytes());
        match &record.link {
            Some(link) => {
                info.extend(u32_of(link.len() + 1, path)?.to_be_bytes());
                info.extend(link.as_bytes());
                info.push(0);
            }
            None => info.extend(0u32.to_be_bytes()),
        }
        let info = blocks.push(info);
        let mut index = id.to_be_bytes().to_vec();
        index.extend(info.to_be_bytes());
        let index = blocks.push(index);
        let mut file = parent.to_be_bytes().to_vec();
        file.extend(name.as_bytes());
        file.push(0);
        let file = blocks.push(file);
        pairs.push((index, file));
    }

    // The leaves, linked both ways; above them, when there are several, one index block.
    let chunks: Vec<&[(u32, u32)]> = pairs.chunks(PATHS_PER_LEAF).collect();
    let first_leaf = blocks.0.len() as u32;
    let leaf_ids: Vec<u32> = (0..chunks.len() as u32).map(|i| first_leaf + i).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let forward = leaf_ids.get(i + 1).copied().unwrap_or(0);
        let backward = if i == 0 { 0 } else { leaf_ids[i - 1] };
        blocks.push(Blocks::paths(true, forward, backward, chunk));
    }
    let root = if let [leaf] = leaf_ids.as_slice() {
        *leaf
    } else {
        let keys: Vec<(u32, u32)> = leaf_ids
            .iter()
            .zip(&chunks)
            .map(|(leaf, chunk)| (*leaf, chunk.last().map_or(0, |(_, file)| *file)))
            .collect();
        blocks.push(Blocks::paths(false, 0, 0, &keys))
    };
    let path_count = u32_of(pairs.len(), "path count")?;
    let paths_tree = blocks.tree(root, 4096, path_count);

    let mut info = Vec::new();
    for value in [1, path_count + 1, 1, 0, 0, 0, 0] {
        info.extend(value.to_be_bytes());
    }
    let info = blocks.push(info);
    let hl_index = blocks.empty_tree(4096);
    let v_tree = blocks.empty_tree(128);
    let mut v_index = Vec::new();
    for value in [1, v_tree, 0] {
        v_index.extend(value.to_be_bytes());
    }
    v_index.push(0);
    let v_index = blocks.push(v_index);
    let size64 = blocks.empty_tree(128);

    let vars = [
        ("BomInfo", info),
        ("Paths", paths_tree),
        ("HLIndex", hl_index),
        ("VIndex", v_index),
        ("Size64", size64),
    ];
    let mut vars_data = (vars.len() as u32).to_be_bytes().to_vec();
    for (name, block) in vars {
        vars_data.extend(block.to_be_bytes());
        vars_data.push(name.len() as u8);
        vars_data.extend(name.as_bytes());
    }

    let mut out = vec![0u8; BLOCKS_OFFSET];
    let mut table = u32_of(blocks.0.len(), "block count")?
        .to_be_bytes()
        .to_vec();
    for block in &blocks.0 {
        let (address, length) = if block.is_empty() {
            (0, 0)
        } else {
            (u32_of(out.len(), "bom")?, u32_of(block.len(), "block")?)
        };
        out.extend(block);
        table.extend(address.to_be_bytes());
        table.extend(length.to_be_bytes());
    }
    // An empty free list, as mkbom writes one.
    table.extend(2u32.to_be_bytes());
    table.extend([0u8; 16]);
    out.resize(out.len().next_multiple_of(64), 0);
    let table_offset = u32_of(out.len(), "bom")?;
    out.extend(&table);

    out[..8].copy_from_slice(b"BOMStore");
    let header = [
        1,
        u32_of(blocks.0.len(), "block count")?,
        table_offset,
        u32_of(table.len(), "block table")?,
        VARS_OFFSET as u32,
        u32_of(vars_data.len(), "vars")?,
    ];
    for (i, value) in header.iter().enumerate() {
        out[8 + 4 * i..12 + 4 * i].copy_from_slice(&value.to_be_bytes());
    }
    out[VARS_OFFSET..VARS_OFFSET + vars_data.len()].copy_from_slice(&vars_data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::cksum;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn checksums_are_posix_cksum() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut child = Command::new("cksum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cksum runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&data)
            .expect("write");
        let output = child.wait_with_output().expect("cksum");
        let expected = String::from_utf8_lossy(&output.stdout).to_string();
        let (crc, length) = cksum(&mut data.as_slice()).expect("cksum");
        assert_eq!(expected.trim(), format!("{crc} {length}"));
    }
}
