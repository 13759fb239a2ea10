//! The signature header, as `rpmbuild` writes it for an unsigned package: digests of the main
//! header (SHA-1, SHA-256), the size of header and payload with their MD5, the size of the
//! uncompressed payload, and space reserved for a later signature (`rpmsign --addsign` then
//! rewrites the header in place).
//!
//! The MD5 covers the main header and the payload, which are written after it: it is left
//! zeroed here and patched in at `md5_at` once the payload has been copied.

use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::io;

use super::header::{Header, Value};
use super::tags::*;

/// What `rpmbuild` reserves (`%__gpg_reserved_space` 4096, plus 32).
const RESERVED_SPACE: usize = 4128;

pub struct Signature {
    /// The encoded header, padded to a multiple of 8 bytes.
    pub bytes: Vec<u8>,
    /// Where the 16 bytes of the MD5 go, in `bytes`.
    pub md5_at: usize,
}

/// The signature header for `header` (the encoded main header), followed by a payload of
/// `payload_len` bytes that uncompresses to `archive_len` bytes.
pub fn signature(header: &[u8], payload_len: u64, archive_len: u64) -> io::Result<Signature> {
    let mut sig = Header::new();
    sig.set(SIG_SHA1, Value::String(hex::encode(Sha1::digest(header))));
    sig.set(
        SIG_SHA256,
        Value::String(hex::encode(Sha256::digest(header))),
    );
    let size = header.len() as u64 + payload_len;
    match u32::try_from(size) {
        Ok(size) => sig.set(SIG_SIZE, Value::Int32(vec![size])),
        Err(_) => sig.set(SIG_LONGSIZE, Value::Int64(vec![size])),
    };
    match u32::try_from(archive_len) {
        Ok(len) => sig.set(SIG_PAYLOADSIZE, Value::Int32(vec![len])),
        Err(_) => sig.set(SIG_LONGARCHIVESIZE, Value::Int64(vec![archive_len])),
    };
    sig.set(SIG_MD5, Value::Bin(vec![0; 16]));
    sig.set(SIG_RESERVEDSPACE, Value::Bin(vec![0; RESERVED_SPACE]));
    let mut encoded = sig.encode(HEADER_SIGNATURES)?;
    let padded = encoded.bytes.len().next_multiple_of(8);
    encoded.bytes.resize(padded, 0);
    Ok(Signature {
        bytes: encoded.bytes,
        md5_at: encoded.data_at[&SIG_MD5],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_to_eight_with_room_for_the_md5() {
        let sig = signature(b"a main header", 10, 30).expect("signature");
        assert_eq!(sig.bytes.len() % 8, 0);
        assert_eq!(&sig.bytes[sig.md5_at..sig.md5_at + 16], &[0u8; 16]);
        // The SHA-256 of the header is in the store, as hex.
        let hex = hex::encode(Sha256::digest(b"a main header"));
        assert!(sig.bytes.windows(hex.len()).any(|w| w == hex.as_bytes()));
    }

    #[test]
    fn sizes_past_four_gigabytes_use_the_long_tags() {
        let small = signature(b"h", 10, 30).expect("signature");
        let large = signature(b"h", 5 << 30, 6 << 30).expect("signature");
        // Two INT64 instead of two INT32: the long tags are there.
        assert!(large.bytes.len() > small.bytes.len());
        let has_tag = |bytes: &[u8], tag: u32| {
            let records = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
            (0..records).any(|i| bytes[16 + i * 16..20 + i * 16] == tag.to_be_bytes())
        };
        assert!(has_tag(&large.bytes, SIG_LONGSIZE));
        assert!(has_tag(&large.bytes, SIG_LONGARCHIVESIZE));
        assert!(!has_tag(&large.bytes, SIG_SIZE));
        assert!(has_tag(&small.bytes, SIG_SIZE));
    }
}
