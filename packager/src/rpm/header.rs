//! An RPM header structure (the signature header and the main header share it): a magic, an
//! index of (tag, type, offset, count) records sorted by tag, and a store holding the data,
//! each value aligned to its type's size. The first record is the region tag, whose trailer at
//! the end of the store covers every record (rpm refuses a header without it).

use std::collections::BTreeMap;
use std::io;

const MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
const ENTRY_LEN: usize = 16;

/// A tag's value, with rpm's type for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int16(Vec<u16>),
    Int32(Vec<u32>),
    Int64(Vec<u64>),
    String(String),
    Bin(Vec<u8>),
    StringArray(Vec<String>),
    /// A translatable string; only the "C" locale is written.
    I18nString(String),
}

impl Value {
    fn type_code(&self) -> u32 {
        match self {
            Value::Int16(_) => 3,
            Value::Int32(_) => 4,
            Value::Int64(_) => 5,
            Value::String(_) => 6,
            Value::Bin(_) => 7,
            Value::StringArray(_) => 8,
            Value::I18nString(_) => 9,
        }
    }

    fn alignment(&self) -> usize {
        match self {
            Value::Int16(_) => 2,
            Value::Int32(_) => 4,
            Value::Int64(_) => 8,
            _ => 1,
        }
    }

    fn count(&self) -> usize {
        match self {
            Value::Int16(v) => v.len(),
            Value::Int32(v) => v.len(),
            Value::Int64(v) => v.len(),
            Value::String(_) | Value::I18nString(_) => 1,
            Value::Bin(v) => v.len(),
            Value::StringArray(v) => v.len(),
        }
    }

    fn append(&self, store: &mut Vec<u8>) -> io::Result<()> {
        let string = |store: &mut Vec<u8>, s: &str| {
            if s.contains('\0') {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a header string holds a NUL byte: {s:?}"),
                ));
            }
            store.extend_from_slice(s.as_bytes());
            store.push(0);
            Ok(())
        };
        match self {
            Value::Int16(v) => v.iter().for_each(|n| store.extend(n.to_be_bytes())),
            Value::Int32(v) => v.iter().for_each(|n| store.extend(n.to_be_bytes())),
            Value::Int64(v) => v.iter().for_each(|n| store.extend(n.to_be_bytes())),
            Value::String(s) | Value::I18nString(s) => string(store, s)?,
            Value::Bin(v) => store.extend_from_slice(v),
            Value::StringArray(v) => {
                for s in v {
                    string(store, s)?;
                }
            }
        }
        Ok(())
    }
}

/// Tags and values, kept sorted by tag (the order rpm requires in the index).
#[derive(Debug, Default)]
pub struct Header {
    entries: BTreeMap<u32, Value>,
}

/// A header as bytes, with where each tag's data starts in them.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub data_at: BTreeMap<u32, usize>,
}

impl Header {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `tag` (a later value replaces an earlier one).
    pub fn set(&mut self, tag: u32, value: Value) -> &mut Self {
        self.entries.insert(tag, value);
        self
    }

    /// The header's bytes, its region tagged `region` (`HEADERIMMUTABLE`, or
    /// `HEADERSIGNATURES` for the signature header).
    pub fn encode(&self, region: u32) -> io::Result<Encoded> {
        let records = self.entries.len() + 1;
        let mut index = Vec::with_capacity(records * ENTRY_LEN);
        let mut store = Vec::new();
        let mut offsets = BTreeMap::new();
        for (&tag, value) in &self.entries {
            let align = value.alignment();
            store.resize(store.len().next_multiple_of(align), 0);
            offsets.insert(tag, store.len());
            push_record(
                &mut index,
                tag,
                value.type_code(),
                store.len(),
                value.count(),
            )?;
            value.append(&mut store)?;
        }
        // The region: a record pointing at a 16-byte trailer, itself a record whose negative
        // offset spans every index record.
        let trailer_at = store.len();
        let mut region_record = Vec::with_capacity(ENTRY_LEN);
        push_record(&mut region_record, region, 7, trailer_at, ENTRY_LEN)?;
        store.extend(region.to_be_bytes());
        store.extend(7u32.to_be_bytes());
        store.extend((-((records * ENTRY_LEN) as i32)).to_be_bytes());
        store.extend((ENTRY_LEN as u32).to_be_bytes());

        let too_big = |_| io::Error::new(io::ErrorKind::InvalidInput, "header too big");
        let mut bytes = Vec::with_capacity(16 + records * ENTRY_LEN + store.len());
        bytes.extend_from_slice(&MAGIC);
        bytes.extend(u32::try_from(records).map_err(too_big)?.to_be_bytes());
        bytes.extend(u32::try_from(store.len()).map_err(too_big)?.to_be_bytes());
        bytes.extend_from_slice(&region_record);
        bytes.extend_from_slice(&index);
        let store_at = bytes.len();
        bytes.extend_from_slice(&store);
        let data_at = offsets
            .into_iter()
            .map(|(tag, offset)| (tag, store_at + offset))
            .collect();
        Ok(Encoded { bytes, data_at })
    }
}

fn push_record(
    index: &mut Vec<u8>,
    tag: u32,
    type_code: u32,
    offset: usize,
    count: usize,
) -> io::Result<()> {
    let field = |n: usize| {
        u32::try_from(n)
            .ok()
            .filter(|n| *n <= i32::MAX as u32)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "header too big"))
    };
    index.extend(tag.to_be_bytes());
    index.extend(type_code.to_be_bytes());
    index.extend(field(offset)?.to_be_bytes());
    index.extend(field(count)?.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn records_are_sorted_aligned_and_covered_by_the_region() {
        let mut header = Header::new();
        header
            .set(1004, Value::String("abc".into()))
            .set(1000, Value::Int16(vec![1]))
            .set(1001, Value::Int32(vec![7, 8]));
        let encoded = header.encode(63).expect("encode");
        let bytes = &encoded.bytes;
        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(u32_at(bytes, 8), 4, "three tags and the region");
        let store_len = u32_at(bytes, 12) as usize;
        let store_at = 16 + 4 * ENTRY_LEN;
        assert_eq!(bytes.len(), store_at + store_len);
        let record = |i: usize| -> [u32; 4] {
            let at = 16 + i * ENTRY_LEN;
            [0, 4, 8, 12].map(|o| u32_at(bytes, at + o))
        };
        // The region first, then the tags in order; the INT32 starts on a multiple of 4.
        assert_eq!(record(0), [63, 7, (store_len - 16) as u32, 16]);
        assert_eq!(record(1), [1000, 3, 0, 1]);
        assert_eq!(record(2), [1001, 4, 4, 2]);
        assert_eq!(record(3), [1004, 6, 12, 1]);
        assert_eq!(&bytes[store_at + 12..store_at + 16], b"abc\0");
        assert_eq!(encoded.data_at[&1001], store_at + 4);
        // The trailer: the region tag again, its offset minus the size of the whole index.
        let trailer = store_at + store_len - 16;
        assert_eq!(u32_at(bytes, trailer), 63);
        assert_eq!(u32_at(bytes, trailer + 8) as i32, -4 * ENTRY_LEN as i32);
    }

    #[test]
    fn a_nul_in_a_string_is_refused() {
        let mut header = Header::new();
        header.set(1000, Value::StringArray(vec!["a\0b".into()]));
        assert!(header.encode(63).is_err());
    }
}
