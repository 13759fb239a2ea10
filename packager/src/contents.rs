//! What a packaged file holds: small generated files live in memory; the agent binaries live in
//! a scratch file and are read as they are written into the package, so a 200 MB package is
//! never held whole in memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Contents {
    pub fn len(&self) -> io::Result<u64> {
        match self {
            Contents::Bytes(bytes) => Ok(bytes.len() as u64),
            Contents::File(path) => Ok(std::fs::metadata(path)?.len()),
        }
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    pub fn reader(&self) -> io::Result<Box<dyn Read + '_>> {
        match self {
            Contents::Bytes(bytes) => Ok(Box::new(bytes.as_slice())),
            Contents::File(path) => Ok(Box::new(io::BufReader::new(File::open(path)?))),
        }
    }

    /// The whole contents, for writers that cannot stream (small files only).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        match self {
            Contents::Bytes(bytes) => Ok(bytes.clone()),
            Contents::File(path) => std::fs::read(path),
        }
    }
}

impl From<Vec<u8>> for Contents {
    fn from(bytes: Vec<u8>) -> Self {
        Contents::Bytes(bytes)
    }
}

impl From<&str> for Contents {
    fn from(text: &str) -> Self {
        Contents::Bytes(text.as_bytes().to_vec())
    }
}

impl From<String> for Contents {
    fn from(text: String) -> Self {
        Contents::Bytes(text.into_bytes())
    }
}
