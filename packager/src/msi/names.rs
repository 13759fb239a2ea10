//! Names Windows Installer requires: table keys (identifiers), 8.3 short names beside the
//! long ones, and GUIDs in the registry format (`{XXXXXXXX-...}`, upper case).

use md5::{Digest, Md5};
use std::collections::HashSet;
use uuid::Uuid;

/// A table key from free text: identifiers allow letters, digits, `_` and `.`, and do not
/// start with a digit or `.`. `prefix` keeps keys of different kinds apart (and starts them).
pub fn identifier(prefix: &str, index: usize, text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Keys are at most 72 characters; the index alone keeps them unique.
    let mut key = format!("{prefix}{index}_{cleaned}");
    key.truncate(72);
    key
}

fn is_short_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'()-@^_`{}~".contains(c)
}

/// Whether `name` is a valid 8.3 name as it is (then no separate short name is needed).
fn is_short(name: &str) -> bool {
    let (base, ext) = match name.split_once('.') {
        Some((base, ext)) => (base, Some(ext)),
        None => (name, None),
    };
    let valid = |part: &str, max: usize| {
        !part.is_empty() && part.len() <= max && part.chars().all(is_short_char)
    };
    valid(base, 8) && ext.is_none_or(|ext| valid(ext, 3))
}

/// Short names of the entries of one directory (files and subdirectories share them).
#[derive(Default)]
pub struct ShortNames {
    taken: HashSet<String>,
}

impl ShortNames {
    /// The `short|long` form Windows Installer stores (just `long` when it is 8.3 already).
    pub fn both(&mut self, long: &str) -> String {
        if is_short(long) && self.taken.insert(long.to_ascii_uppercase()) {
            return long.to_string();
        }
        let (stem, ext) = match long.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem, ext),
            _ => (long, ""),
        };
        let clean = |text: &str, max: usize| -> String {
            text.chars()
                .filter(|c| is_short_char(*c) && *c != '~')
                .map(|c| c.to_ascii_uppercase())
                .take(max)
                .collect()
        };
        let ext = clean(ext, 3);
        let stem = clean(stem, 6);
        let stem = if stem.is_empty() {
            "F".to_string()
        } else {
            stem
        };
        for n in 1u32.. {
            let tail = format!("~{n}");
            let keep = stem.len().min(8 - tail.len());
            let mut short = format!("{}{tail}", &stem[..keep]);
            if !ext.is_empty() {
                short = format!("{short}.{ext}");
            }
            if self.taken.insert(short.clone()) {
                return format!("{short}|{long}");
            }
        }
        unreachable!("the counter runs until a name is free")
    }
}

/// A name-based (MD5, version 3) UUID: the same `parts` always give the same GUID.
pub fn derived_uuid(parts: &[&[u8]]) -> Uuid {
    let mut hasher = Md5::new();
    for part in parts {
        // Lengths first, so that ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    uuid::Builder::from_md5_bytes(hasher.finalize().into()).into_uuid()
}

/// The registry form of a GUID, as MSI tables hold it.
pub fn guid(uuid: Uuid) -> String {
    format!("{{{}}}", uuid.hyphenated()).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_get_unique_short_names() {
        let mut names = ShortNames::default();
        assert_eq!(names.both("orbit.exe"), "orbit.exe");
        assert_eq!(names.both("osquery.flags"), "OSQUER~1.FLA|osquery.flags");
        assert_eq!(names.both("osquery.flagz"), "OSQUER~2.FLA|osquery.flagz");
        assert_eq!(names.both("tuf-root.json"), "TUF-RO~1.JSO|tuf-root.json");
        assert_eq!(names.both("4.6.0"), "46~1.0|4.6.0");
        assert_eq!(names.both("fleet desktop"), "FLEETD~1|fleet desktop");
        // Case-insensitive: a second ORBIT.EXE needs a short name of its own.
        assert_eq!(names.both("ORBIT.EXE"), "ORBIT~1.EXE|ORBIT.EXE");
    }

    #[test]
    fn identifiers_are_valid_keys() {
        assert_eq!(
            identifier("F", 3, "tuf-root.json"),
            "F3_tuf_root.json".to_string()
        );
        assert!(identifier("D", 1, &"x".repeat(100)).len() <= 72);
    }

    #[test]
    fn derived_guids_are_stable_and_distinct() {
        let a = guid(derived_uuid(&[b"component", b"bin/orbit/orbit.exe"]));
        assert_eq!(
            a,
            guid(derived_uuid(&[b"component", b"bin/orbit/orbit.exe"]))
        );
        assert_ne!(a, guid(derived_uuid(&[b"component", b"secret.txt"])));
        assert_ne!(
            guid(derived_uuid(&[b"ab", b"c"])),
            guid(derived_uuid(&[b"a", b"bc"]))
        );
        assert_eq!(a.len(), 38);
        assert!(a.starts_with('{') && !a.chars().any(|c| c.is_ascii_lowercase()));
    }
}
