//! The lead: 96 bytes of legacy identification before the headers. rpm only checks its magic
//! and version; the rest is written as `rpmbuild` does.

pub const LEAD_LEN: usize = 96;

/// rpm's architecture number (`arch_canon` in rpmrc), 0 when rpm has none.
fn arch_number(arch: &str) -> u16 {
    match arch {
        "x86_64" | "i386" | "i686" => 1,
        "aarch64" => 19,
        _ => 0,
    }
}

/// The lead of a binary package named `name` (its `name-version-release`).
pub fn lead(name: &str, arch: &str) -> [u8; LEAD_LEN] {
    let mut lead = [0u8; LEAD_LEN];
    lead[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
    lead[4] = 3; // major
    lead[5] = 0; // minor
    lead[6..8].copy_from_slice(&0u16.to_be_bytes()); // binary package
    lead[8..10].copy_from_slice(&arch_number(arch).to_be_bytes());
    // The name, NUL-terminated within 66 bytes.
    let name = name.as_bytes();
    let len = name.len().min(65);
    lead[10..10 + len].copy_from_slice(&name[..len]);
    lead[76..78].copy_from_slice(&1u16.to_be_bytes()); // Linux
    lead[78..80].copy_from_slice(&5u16.to_be_bytes()); // signature in a header structure
    lead
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_keeps_its_terminating_nul() {
        let lead = lead(&"n".repeat(100), "aarch64");
        assert_eq!(&lead[..4], &[0xed, 0xab, 0xee, 0xdb]);
        assert_eq!(&lead[8..10], &[0, 19]);
        assert_eq!(lead[74], b'n');
        assert_eq!(lead[75], 0);
        assert_eq!(&lead[78..80], &[0, 5]);
    }
}
