//! Small byte helpers shared across stages: lower-case hex text and the FNV-1a 64-bit
//! fingerprint (used for overlap-conflict copies in the assembler and for relayed-byte
//! prefixes in the tunnel correlator, so both report comparable hashes).

use std::fmt::Write;

/// Lower-case hex, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// FNV-1a 64 offset basis: the hash of no bytes, and the start of an incremental hash.
pub const FNV1A64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV1A64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Continues an FNV-1a 64 hash `h` over `bytes`.
pub fn fnv1a64_update<'a>(mut h: u64, bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV1A64_PRIME);
    }
    h
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    fnv1a64_update(FNV1A64_OFFSET, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_vectors() {
        // FNV-1a 64 test vectors (Fowler/Noll/Vo reference list).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a64_update(fnv1a64(b"foo"), b"bar"), fnv1a64(b"foobar"));
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
